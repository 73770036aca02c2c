"""Physical channel removal with torch-pruning's low-level pruning functions.

The model declares its channel groups explicitly (``model.channel_groups()``), so we do not ask
torch-pruning's dependency graph to rediscover them: tracing misses embedding tables read as
weights and couples unrelated channels when layer outputs are concatenated. Each group's
producers lose output channels and its consumers lose input channels, then every resulting shape
is checked against the kept indices.
"""

import torch_pruning as tp
from torch import nn

_OUT = {nn.Embedding: tp.prune_embedding_out_channels, nn.Linear: tp.prune_linear_out_channels}
_IN = {nn.Linear: tp.prune_linear_in_channels}


def _pruner(table, module):
    for kind, fn in table.items():
        if isinstance(module, kind):
            return fn
    raise TypeError(f"no torch-pruning function for {type(module).__name__}")


def _out_width(module):
    return module.embedding_dim if isinstance(module, nn.Embedding) else module.out_features


def _check_shapes(group, width):
    for module in group.producers:
        rows, cols = module.weight.shape
        got = cols if isinstance(module, nn.Embedding) else rows
        if got != width or _out_width(module) != width:
            raise RuntimeError(f"{group.name}: producer {module} has width {got}, expected {width}")
        if getattr(module, "bias", None) is not None and module.bias.shape[0] != width:
            raise RuntimeError(f"{group.name}: bias of {module} not pruned to {width}")
    for module in group.consumers:
        if module.weight.shape[1] != width or module.in_features != width:
            raise RuntimeError(f"{group.name}: consumer {module} reads {module.weight.shape[1]}")


def prune_channels(model, kept):
    """Remove every channel not in ``kept[group]`` from ``model`` in place.

    Returns the model; its parameters are new tensors, so optimisers must be rebuilt, and any
    cached embeddings are dropped.
    """
    for group in model.channel_groups():
        keep = sorted(kept[group.name])
        if not keep or keep[-1] >= group.width or len(set(keep)) != len(keep):
            raise ValueError(f"{group.name}: invalid kept indices for width {group.width}")
        removed = sorted(set(range(group.width)) - set(keep))
        if removed:
            for module in group.producers:
                _pruner(_OUT, module)(module, removed)
            for module in group.consumers:
                _pruner(_IN, module)(module, removed)
        _check_shapes(group, len(keep))
    model.channels_pruned({name: sorted(k) for name, k in kept.items()})
    model.set_channel_masks({})
    return model


def prune_to_widths(model, widths):
    """Shrink ``model`` to ``widths`` (keeping each group's first channels): the shape a pruned
    checkpoint's state dict is loaded into."""
    return prune_channels(model, {name: list(range(w)) for name, w in widths.items()})
