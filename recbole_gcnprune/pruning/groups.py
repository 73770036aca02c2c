"""Budgets over channel groups: how many channels each group keeps, and which.

``prune_ratio`` is the fraction of the groups' parameters removed. Allocations:

- ``uniform``: every group keeps the same share of its channels, its best by score (a model
  with one group per width, as the unbucketed model has, needs nothing else);
- ``global``: one cost-aware choice over every channel of every group: channels are taken by
  score, best first, each at its cost in parameters, while they fit the budget (each group keeps
  at least its best channel). Scores must compare across groups (importance.py makes them per
  parameter);
- ``frequency``: each group keeps a width proportional to a power of its rows' popularity, the
  mixed-dimension rule of Ginart et al. (ISIT 2021), scaled to the budget; the best channels by
  score within each group.
"""

import torch

from recbole_gcnprune.pruning.importance import channel_cost

# Exponent of the frequency rule (width ~ popularity ** FREQUENCY_POWER): the middle of the
# range Ginart et al. report working (their alpha; 0 is uniform, 1 proportional).
FREQUENCY_POWER = 0.3


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


def parameter_budget(groups, prune_ratio):
    """Parameters the groups keep when ``prune_ratio`` of theirs are removed."""
    total = sum(channel_cost(g) * g.width for g in groups)
    return int(round(total * (1.0 - prune_ratio)))


def kept_parameters(groups, kept):
    """Parameters of ``groups`` once each keeps ``kept[name]`` (indices, or a width)."""
    return sum(channel_cost(g) * _count(kept[g.name]) for g in groups)


def _count(kept):
    return kept if isinstance(kept, int) else len(kept)


def select_channels(groups, scores, prune_ratio, allocation="uniform", popularity=None):
    """``{group name: sorted kept indices}`` under ``allocation`` (module docstring), by score.
    ``popularity``: ``{group name: mean training degree of its rows}`` (``frequency`` only)."""
    if allocation == "global":
        return select_global(groups, scores, parameter_budget(groups, prune_ratio))
    if allocation == "frequency":
        widths = frequency_widths(groups, popularity, parameter_budget(groups, prune_ratio))
    else:
        widths = kept_widths(groups, prune_ratio)
    return {g.name: top_k_indices(scores[g.name], widths[g.name]) for g in groups}


def allocated_widths(groups, prune_ratio, allocation="uniform", popularity=None):
    """Kept widths an allocation that needs no scores gives (uniform, frequency): the shape of
    train_small's and distill_small's models."""
    if allocation == "frequency":
        return frequency_widths(groups, popularity, parameter_budget(groups, prune_ratio))
    if allocation == "global":
        raise ValueError("the global allocation needs channel scores")
    return kept_widths(groups, prune_ratio)


def select_global(groups, scores, budget):
    """Each group's best channel, then every other channel by descending score (ties: group
    order, then channel index) while its cost fits ``budget``. The kept parameters are at most
    ``budget``, and no channel left out would still fit."""
    costs = [channel_cost(g) for g in groups]
    kept = [[int(torch.argmax(scores[g.name].detach().double()))] for g in groups]
    spent = sum(costs)
    if spent > budget:
        raise ValueError(f"a budget of {budget} parameters cannot keep one channel per group "
                         f"({spent}): lower prune_ratio")
    candidates = sorted(
        (-float(score), gi, c) for gi, g in enumerate(groups)
        for c, score in enumerate(scores[g.name].detach().double().tolist()) if c != kept[gi][0])
    for _, gi, c in candidates:
        if spent + costs[gi] <= budget:
            kept[gi].append(c)
            spent += costs[gi]
    return {g.name: sorted(k) for g, k in zip(groups, kept)}


def frequency_widths(groups, popularity, budget, power=FREQUENCY_POWER):
    """``{group: width}`` with width ~ ``popularity ** power`` (between 1 and the group's width),
    scaled (bisection) to the largest that fits ``budget``; what is left is spent one channel at a
    time on the most popular groups that still fit."""
    costs = {g.name: channel_cost(g) for g in groups}
    weight = {g.name: max(float(popularity[g.name]), 1e-9) ** power for g in groups}

    def widths_at(scale):
        return {g.name: min(g.width, max(1, int(scale * weight[g.name]))) for g in groups}

    def cost(widths):
        return sum(costs[n] * w for n, w in widths.items())

    low, high = 0.0, max(g.width / weight[g.name] for g in groups) + 1.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if cost(widths_at(middle)) <= budget else (low, middle)
    widths = widths_at(low)
    if cost(widths) > budget:
        raise ValueError(f"a budget of {budget} parameters cannot keep one channel per group: "
                         "lower prune_ratio")
    for g in sorted(groups, key=lambda g: -weight[g.name]):
        while widths[g.name] < g.width and cost(widths) + costs[g.name] <= budget:
            widths[g.name] += 1
    return widths


def hard_masks(groups, kept, device=None):
    """``{group name: 0/1 mask}`` keeping the ``kept[name]`` channels of each group ``kept``
    names (a group it does not name gets no mask)."""
    return {g.name: torch.zeros(g.width, device=device).index_fill_(
        0, torch.tensor(kept[g.name], device=device), 1.0) for g in groups if g.name in kept}

