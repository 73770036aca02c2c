"""Bit-reproducible training on one machine with a multi-threaded CPU."""

from contextlib import contextmanager

import torch


@contextmanager
def deterministic_algorithms(enabled):
    """``torch.use_deterministic_algorithms`` inside the block when ``enabled`` (warning, not
    failing, where an op has no deterministic kernel), the previous setting after it.

    RecBole's ``reproducibility`` seeds every stream but leaves torch's kernels free to sum in
    any order. With 2 CPU threads, two runs of the same gan search epoch from the same state
    part within its first 5 of 47 steps (Book-Crossing bench5), and two fine-tunings of the same
    pruned start part within a few dozen steps (the flagship table); with it they agree bit for
    bit (``python -m bench.determinism search`` and ``finetune``). On another CPU
    the kernels may round differently: the same run need not give the same figures there."""
    if not enabled:
        yield
        return
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=not previous or previous_warn_only)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=previous_warn_only)
