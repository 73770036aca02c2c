"""Plugin trainers, by the model name they train."""

from recbole_gcnprune.trainer.gan_prune_trainer import GANPruneTrainer

MODEL_TRAINERS = {"GCNPruneGAN": GANPruneTrainer}
