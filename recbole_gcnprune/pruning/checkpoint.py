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


def load_teacher(model, path, device="cpu", label="teacher_checkpoint"):
    """Load a dense teacher into ``model`` and return its checkpoint: one of ours or one RecBole
    wrote through this plugin (key ``state_dict``; optional ``meta``). Anything else, or weights
    that do not fit ``model`` (torch's strict load), is a one-line ``ConfigError`` that names
    ``label`` (the key, or the cache)."""
    where = f"{label} {path}"
    try:
        checkpoint = read_checkpoint(path, device)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as error:
        raise ConfigError(f"{where} cannot be read with weights_only=True ({_first_line(error)}; "
                          "RecBole's own checkpoints pickle its Config): "
                          f"{TEACHER_HINT}") from None
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{where} has no 'state_dict' of tensors (a bare state dict can be "
                          "saved as {'state_dict': model.state_dict()}): " + TEACHER_HINT)
    if checkpoint.get("pruning"):
        raise ConfigError(f"{where} is a pruned model, not a dense teacher: {TEACHER_HINT}")
    try:
        load_into(model, checkpoint)
    except RuntimeError as error:  # torch lists every mismatch, one per line after a heading
        raise ConfigError(f"{where} does not fit this model ({_first_line(error, skip=1)}; same "
                          "dataset, embedding_size, n_layers and transform settings?)") from None
    return checkpoint


def _first_line(error, skip=0):
    """The first non-empty line of ``error``'s message after ``skip`` lines (else its type)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[skip:] or lines or [type(error).__name__])[0]
