"""recbole-gcnprune: GAN-guided structured pruning of graph recommenders for RecBole."""

__version__ = "0.1.0"
