"""The frozen search student (``search_learning_rate: 0``): the teacher under soft masks, read
row by row.

For a model whose embedding masks commute with its propagation (LightGCN: propagation and layer
mean are linear, channel by channel), the student's final embeddings under a mask ``m`` are the
teacher's propagated embeddings times ``m``, then normalised as the ranking loss scores them. A
search step reads only some rows of them (the batch's users and items, the distillation's
profiles), so ``MaskedRows`` masks and normalises just those rows when they are indexed: no
propagation and no full-table work per step, and nothing to back-propagate into but the mask.
"""

from contextlib import contextmanager

import torch


class MaskedRows:
    """``normalise(table * mask)``, computed for the rows an index asks for.

    Supports what the search reads off final embeddings: ``rows[index]``, ``.shape`` and ``.T``
    (the whole table, transposed: for ``own_item_scores``' whole-catalogue product)."""

    def __init__(self, table, mask, normalise):
        self.table = table
        self.mask = mask
        self.normalise = normalise

    def __getitem__(self, index):
        return self.normalise(self.table[index] * self.mask)

    @property
    def shape(self):
        return self.table.shape

    @property
    def T(self):  # noqa: N802 (the tensor attribute it stands in for)
        return self.normalise(self.table * self.mask).T


class FrozenStudent:
    """The teacher's unmasked propagated embeddings, captured once, and the student's final
    embeddings under a mask of the embedding channels as ``MaskedRows``."""

    def __init__(self, model):
        model.set_channel_masks({})
        with torch.no_grad():
            self.user_table, self.item_table = (t.detach() for t in model.propagated())
        self.model = model

    def outputs(self, embedding_mask):
        return (MaskedRows(self.user_table, embedding_mask, self.model.normalised_users),
                MaskedRows(self.item_table, embedding_mask, self.model.normalised_items))


@contextmanager
def parameters_frozen(module, enabled=True):
    """Inside the block, when ``enabled``, no parameter of ``module`` requires a gradient (a
    frozen student's L2 term and lookups then build no graph); restored afterwards."""
    if not enabled:
        yield
        return
    previous = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in previous:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in previous:
            p.requires_grad_(flag)
