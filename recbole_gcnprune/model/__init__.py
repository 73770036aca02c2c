"""Plugin models."""

from recbole_gcnprune.model.gcn_prune_gan import GCNPruneGAN

__all__ = ["GCNPruneGAN"]
