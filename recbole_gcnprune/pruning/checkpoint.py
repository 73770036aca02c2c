"""Pruned checkpoints: a state dict plus plain metadata (kept widths and indices), loadable with
``torch.load(..., weights_only=True)`` into a model of the pruned shape."""

import pickle

import torch

from recbole_gcnprune.errors import ConfigError
from recbole_gcnprune.pruning.surgery import prune_to_widths

TEACHER_HINT = ("pass a dense checkpoint of this model, e.g. one under "
                "checkpoint_dir/gcnprune/teachers/")


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


def read_teacher_checkpoint(path, model, device="cpu", label="teacher_checkpoint"):
    """Read a dense teacher for ``model``: a checkpoint of ours or one RecBole wrote through this
    plugin (key ``state_dict``, shapes matching ``model``'s; optional ``meta``); anything else
    is a one-line ``ConfigError`` that names ``label`` (the key, or the cache)."""
    where = f"{label} {path}"
    try:
        checkpoint = read_checkpoint(path, device)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as error:
        first_line = (str(error).strip() or type(error).__name__).splitlines()[0]
        raise ConfigError(f"{where} cannot be read with weights_only=True ({first_line}; "
                          "RecBole's own checkpoints pickle its Config): "
                          f"{TEACHER_HINT}") from None
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{where} has no 'state_dict' of tensors (a bare state dict can be "
                          "saved as {'state_dict': model.state_dict()}): " + TEACHER_HINT)
    if checkpoint.get("pruning"):
        raise ConfigError(f"{where} is a pruned model, not a dense teacher: {TEACHER_HINT}")
    _check_shapes(where, state, model.state_dict())
    return checkpoint


def _check_shapes(where, state, expected):
    """One-line ``ConfigError`` naming the first missing, extra or mis-shaped weight."""
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise ConfigError(f"{where} does not fit this model (missing {missing[:3]}, unexpected "
                          f"{extra[:3]}): {TEACHER_HINT}")
    for name, tensor in expected.items():
        if state[name].shape != tensor.shape:
            raise ConfigError(
                f"{where} does not fit this model: {name} has shape {tuple(state[name].shape)}, "
                f"the model {tuple(tensor.shape)} (same dataset, embedding_size, n_layers and "
                "transform settings?)")
