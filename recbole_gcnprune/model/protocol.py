"""What a prunable recommender offers the pruning trainer.

``GANPruneTrainer`` and ``pruning/`` rely on these methods alone (besides RecBole's
``GeneralRecommender``: ``calculate_loss``, ``full_sort_predict``, ``USER_ID``...). A second
backbone that implements them can be pruned by every criterion; ``GCNPruneGAN`` is the first.
"""

from typing import Dict, List, Protocol, Tuple, runtime_checkable

import torch

from recbole_gcnprune.model.layers import ChannelGroup


@runtime_checkable
class PrunableRecommender(Protocol):
    """The contract (checked by ``isinstance`` in the tests)."""

    def channel_groups(self) -> List[ChannelGroup]:
        """The prunable groups in a fixed order; each names its width and the layers that
        produce and consume its channels (torch-pruning prunes them together)."""

    def set_channel_masks(self, masks: Dict[str, torch.Tensor]) -> None:
        """Scale each group's channels by ``masks[name]`` (its width); ``{}`` unmasks. Must drop
        any cached propagation."""

    def drop_cached_embeddings(self) -> None:
        """Forget propagated embeddings cached for scoring (after weights or shapes change)."""

    def forward(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """Every user's and every item's final vectors, as they are scored (dot products)."""

    def propagated(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """The same before the scoring rule's normalisation (the rotation and the frozen search
        read these)."""

    def normalised_users(self, rows: torch.Tensor) -> torch.Tensor:
        """The scoring rule's normalisation of user rows of :meth:`propagated`."""

    def normalised_items(self, rows: torch.Tensor) -> torch.Tensor:
        """The same for item rows."""

    def loss_from_embeddings(self, user_all, item_all, user, pos_item, neg_item) -> torch.Tensor:
        """The training loss from :meth:`forward`'s outputs, so that the search and the
        distillation add their terms to the model's own loss without a second propagation."""

    def masks_commute_with_propagation(self) -> bool:
        """True when masking the embedding channels before or after propagation is the same (a
        frozen search student then reads the teacher's propagated vectors)."""

    def _init_weights(self) -> None:
        """Re-initialise every weight (from-scratch criteria, shrink and perturb)."""
