"""Structured channel pruning: which channels go together (groups), how they are scored
(importance), the adversarial mask search (generator, discriminator, gan_search), and the
physical removal (surgery)."""
