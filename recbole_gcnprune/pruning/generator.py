"""The generator: keep-logits for every channel of every group, and their relaxation.

A shared MLP maps per-channel descriptors to a logit, to which a learned per-channel offset is
added. Descriptors: of the student's current weights, within the group (log L2 norm of the
producer slices, of the consumer slices, and L1 norm of the producer slices; z-scored within the
group), and across groups, what an allocation weighs (z-scored over every channel of every
group): the channel's energy per parameter, the group's cost per channel (its rows), the mean
training degree of its rows, and the channel's position in the group (the rotated basis orders
channels by energy); plus a learned group embedding.
The MLP lets what it learns about one channel transfer to similar channels; the offsets let it
single out any channel.

Relaxation: binary concrete / Gumbel-sigmoid (Maddison et al. 2017; Jang et al. 2017):
``m = sigmoid((logit + log u - log(1 - u)) / tau)``, ``u ~ U(0, 1)``, with ``tau`` annealed from
``tau_start`` to ``tau_end`` over the search so masks approach {0, 1}; keep-probability is
``sigmoid(logit)``.
"""

import math

import torch
from torch import nn

from recbole_gcnprune.pruning.importance import (
    MagnitudeImportance,
    channel_cost,
    consumer_slices,
    per_channel_sum,
    producer_slices,
)

N_DESCRIPTORS = 7


def _zscore(x):
    return (x - x.mean()) / (x.std(unbiased=False) + 1e-6) if x.numel() > 1 else x * 0


def _log_sum(slices, fn, width):
    total = torch.zeros(width)
    for w, dim in slices:
        total += per_channel_sum(fn(w.detach()), dim).cpu()
    return torch.log(total + 1e-12)


@torch.no_grad()
def channel_descriptors(group):
    """``(width, N_DESCRIPTORS)`` features of each channel of ``group``."""
    producers, consumers = producer_slices(group), consumer_slices(group)
    features = [
        _log_sum(producers, torch.square, group.width),
        _log_sum(consumers, torch.square, group.width),
        _log_sum(producers, torch.abs, group.width),
    ]
    return torch.stack([_zscore(f) for f in features], dim=1)


@torch.no_grad()
def generator_inputs(groups, popularity):
    """``{group: (width, N_DESCRIPTORS)}``: within-group descriptors, then the cross-group ones
    (module docstring). ``popularity``: ``{group: mean training degree}`` (missing: 1)."""
    energy = MagnitudeImportance()(None, groups)
    across = [torch.cat([torch.log(energy[g.name].cpu() + 1e-12) for g in groups])]
    for value in (lambda g: math.log(channel_cost(g)),
                  lambda g: math.log(popularity.get(g.name, 1.0) + 1.0)):
        across.append(torch.cat([torch.full((g.width,), value(g)) for g in groups]))
    across.append(torch.cat([torch.arange(g.width) / g.width for g in groups]))
    across = torch.stack([_zscore(a) for a in across], dim=1).split([g.width for g in groups])
    return {g.name: torch.cat([channel_descriptors(g), a], dim=1)
            for g, a in zip(groups, across)}


class MaskGenerator(nn.Module):
    """Keep-logits for each group's channels (see module docstring)."""

    def __init__(self, group_widths, hidden=32, init_keep=0.9):
        super().__init__()
        self.names = list(group_widths)
        self.group_embedding = nn.Embedding(len(self.names), 8)
        self.net = nn.Sequential(
            nn.Linear(N_DESCRIPTORS + 8, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )
        nn.init.zeros_(self.net[2].weight)
        nn.init.constant_(self.net[2].bias, math.log(init_keep / (1 - init_keep)))
        self.offsets = nn.ParameterDict(
            {self._key(n): nn.Parameter(torch.zeros(w)) for n, w in group_widths.items()}
        )

    @staticmethod
    def _key(name):
        return name.replace(".", "_")

    def forward(self, descriptors):
        """``{group: (width, N_DESCRIPTORS)}`` -> ``{group: (width,) logits}``."""
        logits = {}
        for index, name in enumerate(self.names):
            desc = descriptors[name].to(self.group_embedding.weight.device)
            emb = self.group_embedding.weight[index].expand(desc.shape[0], -1)
            logits[name] = self.net(torch.cat([desc, emb], dim=1)).squeeze(1)
            logits[name] = logits[name] + self.offsets[self._key(name)]
        return logits


def gumbel_sigmoid(logits, tau, generator=None):
    """A relaxed Bernoulli sample per logit (differentiable in ``logits``). The noise is drawn
    on the CPU, where ``generator`` lives, and moved to the logits' device."""
    u = torch.rand(logits.shape, generator=generator).to(logits.device).clamp(1e-6, 1 - 1e-6)
    return torch.sigmoid((logits + torch.log(u) - torch.log1p(-u)) / tau)


def annealed_tau(step, total_steps, tau_start, tau_end):
    """Geometric temperature schedule from ``tau_start`` to ``tau_end``."""
    if total_steps <= 1:
        return tau_end
    return tau_start * (tau_end / tau_start) ** (step / (total_steps - 1))
