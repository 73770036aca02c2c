"""Pruned checkpoints: a state dict plus plain metadata (kept widths and indices), loadable with
``torch.load(..., weights_only=True)`` into a model of the pruned shape."""

import os
import re
import warnings

import torch

from recbole_gcnprune.errors import ConfigError
from recbole_gcnprune.pruning.surgery import prune_to_widths

ZIP_MAGIC = b"PK\x03\x04"
TEACHER_HINT = ("pass a dense checkpoint of this model, e.g. one under "
                "checkpoint_dir/gcnprune/teachers/")


def read_checkpoint(path, device="cpu"):
    """Load a checkpoint of ours or RecBole's (written through our compat shim) safely."""
    return torch.load(path, map_location=device, weights_only=True)


def load_into(model, checkpoint):
    """Shrink ``model`` to the checkpoint's pruned widths (if any), then load its weights."""
    pruning = checkpoint.get("pruning")
    if pruning:
        maps = bucket_maps(checkpoint["state_dict"])
        if maps:
            model.split_into_buckets(None, maps)
        prune_to_widths(model, pruning["widths"])
    model.load_state_dict(without_derived(checkpoint["state_dict"]))
    model.drop_cached_embeddings()
    return model


def bucket_maps(state_dict):
    """``{"user": ..., "item": ...}``: the popularity-bucket maps a bucketed model's state dict
    records (``{}`` for a model without buckets)."""
    return {side: state_dict[f"{side}_embedding.bucket_of_row"] for side in ("user", "item")
            if f"{side}_embedding.bucket_of_row" in state_dict}


# Buffers that bucketed checkpoints written before commit 291ed15 stored and that are now rebuilt
# from the bucket map: left out when such a checkpoint is loaded.
DERIVED_BUFFERS = (".row_in_bucket",)


def without_derived(state_dict):
    """``state_dict`` without the buffers a model rebuilds itself (``DERIVED_BUFFERS``)."""
    return {k: v for k, v in state_dict.items() if not k.endswith(DERIVED_BUFFERS)}


def check_teacher_file(path, label="teacher_checkpoint"):
    """Raise a one-line ``ConfigError`` unless ``path`` is a dense checkpoint that loads safely.
    Run when the config is built: a zip checkpoint's tensors are memory-mapped, not read, so
    only its pickled structure is read here. Shapes are checked when the model is loaded."""
    if not os.path.isfile(path):
        state = "is not a file" if os.path.exists(path) else "not found"
        raise ConfigError(f"{label} {path} {state}: {TEACHER_HINT}")
    read_teacher(path, label=label, mmap=True)


def read_teacher(path, device="cpu", label="teacher_checkpoint", mmap=False):
    """The checkpoint at ``path``, checked to be a dense teacher: one of ours or one RecBole
    wrote through this plugin (a dict with a ``state_dict`` of tensors; optional ``meta``).
    Anything else is a one-line ``ConfigError`` that names ``label`` (the key, or the cache)."""
    where = f"{label} {path}"
    checkpoint = read_safely(path, device, where, mmap)
    if not has_tensor_state(checkpoint):
        raise ConfigError(f"{where} has no 'state_dict' of tensors (a bare state dict can be "
                          "saved as {'state_dict': model.state_dict()}): " + TEACHER_HINT)
    if checkpoint.get("pruning"):
        raise ConfigError(f"{where} is a pruned model, not a dense teacher: {TEACHER_HINT}")
    return checkpoint


def load_teacher(model, path, device="cpu", label="teacher_checkpoint"):
    """Load the dense teacher at ``path`` (:func:`read_teacher`) into ``model`` and return its
    checkpoint; weights that do not fit ``model`` (torch's strict load) are a one-line
    ``ConfigError``."""
    checkpoint = read_teacher(path, device, label)
    try:
        load_into(model, checkpoint)
    except RuntimeError as error:  # torch lists every mismatch, one per line after a heading
        mismatch = first_line(error, skip=1)
        raise ConfigError(f"{label} {path} does not fit this model ({mismatch}; same dataset, "
                          "embedding_size, n_layers and transform settings?)") from None
    return checkpoint


def has_tensor_state(checkpoint):
    """Whether ``checkpoint`` is a dict whose ``state_dict`` is a dict of tensors (what
    :func:`load_into` loads)."""
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    return isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())


def read_safely(path, device="cpu", where=None, mmap=False, hint=TEACHER_HINT,
                error=ConfigError):
    """``torch.load(weights_only=True)``, its failures as one line of our own (torch's text
    suggests unsafe loading): ``error("<where> cannot be read with weights_only=True (why):
    <hint>")``, ``where`` defaulting to ``path``. ``mmap`` maps a zip checkpoint's tensors
    instead of reading them."""
    where = path if where is None else where
    zipped = False
    try:
        zipped = _is_zip(path)
        with warnings.catch_warnings():  # e.g. torch's note on a pickle protocol it rarely sees
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=device, weights_only=True, mmap=mmap and zipped)
    except Exception as failure:  # an outside file can fail torch.load in many ways
        raise error(f"{where} cannot be read with weights_only=True "
                    f"({_unreadable_reason(failure, zipped)}): {hint}") from None


def _is_zip(path):
    """Whether ``path`` starts as the zip archive ``torch.save`` writes (as torch tells)."""
    with open(path, "rb") as f:
        return f.read(4) == ZIP_MAGIC


def _unreadable_reason(error, zipped):
    """Why a file did not load safely, in words that never suggest unsafe loading."""
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    pickled = re.search(r"GLOBAL ([\w.]+)", str(error))
    if pickled:
        return (f"it pickles {pickled.group(1)}, not only tensors and plain containers; "
                "RecBole's own checkpoints pickle its Config")
    if zipped:
        return "a corrupt or truncated torch.save archive"
    return "not a checkpoint written by torch.save"


def first_line(error, skip=0):
    """The first non-empty line of ``error``'s message after ``skip`` lines (else its type)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[skip:] or lines or [type(error).__name__])[0]
