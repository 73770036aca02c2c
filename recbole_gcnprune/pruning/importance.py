"""Channel importance scores, one class per criterion, all with one call signature.

``importance(model, groups) -> {group name: 1-D scores}``; higher means keep. The classic
criteria are computed over the group's producer and consumer slices together (torch-pruning's
group-level view); torch-pruning's own importance classes score dependency-graph groups and return
nothing for our embedding tables, which are the bulk of the parameters.
"""

import torch
from torch import nn


def producer_slices(group):
    """Weight slices emitting the group's channels, as ``(tensor, channel dim)`` pairs."""
    slices = []
    for module in group.producers:
        if isinstance(module, nn.Embedding):
            slices.append((module.weight, 1))
        else:
            slices.append((module.weight, 0))
            if module.bias is not None:
                slices.append((module.bias, 0))
    return slices


def consumer_slices(group):
    """Weight slices reading the group's channels."""
    return [(module.weight, 1) for module in group.consumers]


def channel_slices(group):
    """Every weight slice of the group."""
    return producer_slices(group) + consumer_slices(group)


def per_channel_sum(tensor, dim):
    """Sum of ``tensor`` over every dim but the channel dim."""
    other = [d for d in range(tensor.dim()) if d != dim]
    return tensor.sum(dim=other) if other else tensor


def channel_cost(group):
    """Parameters one channel of ``group`` holds (over all its producer and consumer slices)."""
    return sum(w.numel() // w.shape[d] for w, d in channel_slices(group))


def per_parameter(scores, group):
    """``scores`` of ``group``'s channels divided by the parameters a channel holds: comparable
    across groups of different sizes (a global allocation's currency); the order within the
    group is unchanged."""
    return scores / channel_cost(group)


class MagnitudeImportance:
    """Energy (squared L2 norm) of each channel's weights over all its slices, per parameter:
    the mean squared weight of the channel, ordered within a group as its L2 norm is."""

    def __call__(self, model, groups):
        with torch.no_grad():
            return {
                g.name: per_parameter(
                    sum(per_channel_sum(w.pow(2), d) for w, d in channel_slices(g)), g)
                for g in groups
            }


class TaylorImportance:
    """First-order Taylor (Molchanov et al. 2019): per batch, the change of the loss when a
    channel is removed, ``(sum_w w * dL/dw)^2``, averaged over ``n_batches`` training batches,
    per parameter of the channel."""

    def __init__(self, batches, loss_fn, n_batches=20):
        self.batches = batches
        self.loss_fn = loss_fn
        self.n_batches = n_batches

    def __call__(self, model, groups):
        totals = {g.name: 0.0 for g in groups}
        seen = 0
        for interaction in self.batches:
            if seen >= self.n_batches:
                break
            model.zero_grad()
            self.loss_fn(interaction).sum().backward()
            with torch.no_grad():
                for g in groups:
                    change = sum(per_channel_sum(w * w.grad, d) for w, d in channel_slices(g)
                                 if w.grad is not None)
                    totals[g.name] = totals[g.name] + change.pow(2)
            seen += 1
        model.zero_grad()
        return {g.name: per_parameter(totals[g.name] / max(seen, 1), g) for g in groups}


class RandomImportance:
    """Uniform random scores (seeded): the floor every criterion must beat."""

    def __init__(self, seed):
        self.seed = seed

    def __call__(self, model, groups):
        gen = torch.Generator().manual_seed(self.seed)
        return {g.name: torch.rand(g.width, generator=gen) for g in groups}


class KeepProbabilityImportance:
    """The adversarial search's keep-probabilities, as an importance source."""

    def __init__(self, keep_probabilities):
        self.keep_probabilities = keep_probabilities

    def __call__(self, model, groups):
        return {g.name: self.keep_probabilities[g.name].detach().cpu() for g in groups}
