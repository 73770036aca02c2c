"""Budgets over channel groups: how many channels each group keeps, and which."""

import torch


def kept_width(width, prune_ratio):
    """Channels a group of ``width`` keeps when ``prune_ratio`` of them are removed (>= 1)."""
    return max(1, int(round(width * (1.0 - prune_ratio))))


def kept_widths(groups, prune_ratio):
    """``{group name: kept width}`` for every group."""
    return {g.name: kept_width(g.width, prune_ratio) for g in groups}


def top_k_indices(scores, k):
    """Indices of the ``k`` highest scores, sorted ascending (ties broken by lower index)."""
    order = torch.argsort(-scores.detach().double(), stable=True)[:k]
    return sorted(int(i) for i in order)


def select_channels(groups, scores, prune_ratio):
    """``{group name: sorted kept indices}`` meeting the budget exactly, by score."""
    widths = kept_widths(groups, prune_ratio)
    return {g.name: top_k_indices(scores[g.name], widths[g.name]) for g in groups}


def hard_masks(groups, kept, device=None):
    """``{group name: 0/1 mask}`` keeping the ``kept[name]`` channels of each group ``kept``
    names (a group it does not name gets no mask)."""
    return {g.name: torch.zeros(g.width, device=device).index_fill_(
        0, torch.tensor(kept[g.name], device=device), 1.0) for g in groups if g.name in kept}

