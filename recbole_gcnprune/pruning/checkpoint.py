"""Pruned checkpoints: a state dict plus plain metadata (kept widths and indices), loadable with
``torch.load(..., weights_only=True)`` into a model of the pruned shape."""

import torch

from recbole_gcnprune.pruning.surgery import prune_to_widths


def read_checkpoint(path, device="cpu"):
    """Load a checkpoint of ours or RecBole's (written through our compat shim) safely."""
    return torch.load(path, map_location=device, weights_only=True)


def load_into(model, checkpoint):
    """Shrink ``model`` to the checkpoint's pruned widths (if any), then load its weights."""
    pruning = checkpoint.get("pruning")
    if pruning:
        prune_to_widths(model, pruning["widths"])
    model.load_state_dict(checkpoint["state_dict"])
    model.drop_cached_embeddings()
    return model
