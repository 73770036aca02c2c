"""The frozen search student (``search_learning_rate: 0``): the teacher under soft masks, read
row by row.

For a model whose embedding masks commute with its propagation (LightGCN: propagation and layer
mean are linear, channel by channel), the student's final embeddings under a mask ``m`` are the
teacher's propagated embeddings times ``m``, then normalised as the ranking loss scores them. With
popularity buckets each bucket's rows have their own mask: the final embeddings are then the sum
over buckets of what that bucket's rows propagate to (``propagated_parts``), times its mask. A
search step reads only some rows of them (the batch's users and items, the distillation's
profiles), so ``MaskedRows`` masks and normalises just those rows when they are indexed: no
propagation and no full-table work per step, and nothing to back-propagate into but the mask.
"""

from contextlib import contextmanager

import torch


class MaskedRows:
    """``normalise(sum_g table_g * mask_g)``, computed for the rows an index asks for.

    Supports what the search reads off final embeddings: ``rows[index]``, ``.shape`` and ``.T``
    (the whole table, transposed: for ``own_item_scores``' whole-catalogue product)."""

    def __init__(self, tables_and_masks, normalise):
        self.tables_and_masks = tables_and_masks
        self.normalise = normalise

    def __getitem__(self, index):
        return self.normalise(sum(table[index] * mask for table, mask in self.tables_and_masks))

    @property
    def shape(self):
        return self.tables_and_masks[0][0].shape

    @property
    def T(self):  # noqa: N802 (the tensor attribute it stands in for)
        return self.normalise(sum(table * mask for table, mask in self.tables_and_masks)).T


class FrozenStudent:
    """The teacher's unmasked propagated embeddings (per embedding group), captured once, and the
    student's final embeddings under masks of those groups as ``MaskedRows``."""

    def __init__(self, model):
        with torch.no_grad():
            self.parts = {name: tuple(t.detach() for t in part)
                          for name, part in model.propagated_parts().items()}
        self.model = model

    def outputs(self, masks):
        """``(users, items)`` under ``{group: mask}`` (every group of the parts)."""
        return tuple(
            MaskedRows([(part[side], masks[name]) for name, part in self.parts.items()], norm)
            for side, norm in enumerate((self.model.normalised_users,
                                         self.model.normalised_items)))


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
