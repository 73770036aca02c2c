"""Building blocks of the graph recommender: propagation op, prunable transform, channel groups."""

from dataclasses import dataclass

import torch
from torch import nn


class _SymmetricSpMM(torch.autograd.Function):
    """``A @ x`` for a symmetric sparse ``A``: the backward pass reuses ``A`` (``A^T = A``),
    so no transpose is ever built."""

    @staticmethod
    def forward(ctx, adjacency, x):
        ctx.adjacency = adjacency
        return torch.sparse.mm(adjacency, x)

    @staticmethod
    def backward(ctx, grad_out):
        return None, torch.sparse.mm(ctx.adjacency, grad_out)


# Rows of a score matrix start on a 64-byte cache line when the item axis is a multiple of 16
# floats. With unaligned rows (Book-Crossing's 9,442 items) the CPU GEMM wrote its output 1.5x
# slower at 64 channels (bench/results/scoring_breakdown_book-crossing.md) and up to 4x slower
# at 16 in a micro-benchmark.
SCORE_ROW_FLOATS = 16


def pad_rows(matrix, multiple=SCORE_ROW_FLOATS):
    """``matrix`` with zero rows appended up to a multiple of ``multiple`` rows."""
    extra = -matrix.shape[0] % multiple
    return torch.cat([matrix, matrix.new_zeros(extra, matrix.shape[1])]) if extra else matrix


def dot_scores(user_e, padded_item_e, n_items):
    """``user_e @ item_e.T``, computed against the row-padded ``padded_item_e`` (aligned output
    rows) and returned as a ``len(user_e) x n_items`` view."""
    return (user_e @ padded_item_e.T)[:, :n_items]


def propagate(adjacency, x):
    """One graph convolution ``A @ x`` with a symmetric normalised adjacency (CSR). Without
    autograd (scoring) the sparse product is called directly, without the autograd function's
    dispatch (docs/experiments/speed.md)."""
    if not torch.is_grad_enabled():
        return torch.sparse.mm(adjacency, x)
    return _SymmetricSpMM.apply(adjacency, x)


class BottleneckTransform(nn.Module):
    """Residual per-layer transform ``x + up(act(down(x)))`` with a prunable hidden width.

    ``up`` starts at zero, so an untrained transform is the identity (plain LightGCN).
    """

    def __init__(self, width, hidden):
        super().__init__()
        self.down = nn.Linear(width, hidden)
        self.up = nn.Linear(hidden, width)
        self.act = nn.LeakyReLU(0.2)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x, hidden_mask=None, out_mask=None):
        """``x + up(act(down(x)) * hidden_mask) * out_mask`` (masks optional)."""
        hidden = self.act(self.down(x))
        if hidden_mask is not None:
            hidden = hidden * hidden_mask
        update = self.up(hidden)
        if out_mask is not None:
            update = update * out_mask
        return x + update


@dataclass(frozen=True)
class ChannelGroup:
    """Channels that must be pruned together.

    ``producers`` emit the channels on their output side (``nn.Embedding`` columns, ``nn.Linear``
    rows); ``consumers`` read them on their input side (``nn.Linear`` columns).
    """

    name: str
    width: int
    producers: tuple
    consumers: tuple = ()
