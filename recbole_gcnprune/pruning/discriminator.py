"""The discriminator: tells the dense teacher's score profiles from the masked student's.

Input, per user: scores over a set of items, standardised per user; the teacher's profile is
"real", the student's "fake". Which items (``adv_profile``):

- ``sampled``: a fresh shared random sample at every step (the distillation's). A column then
  names no item, so the discriminator can only judge the *shape* of the score distribution; in
  every measured search it stayed at chance (loss 2 ln 2).
- ``panel``: ``n_items_sampled`` items drawn once per search, always in the same order, as GAL's
  discriminator sees the class logits in a fixed order: a column is an item, so the
  discriminator can learn which items a student lifts or drops relative to the teacher,
  across users, without being told the user (a user-conditioned one could recompute the
  teacher's profile and merely repeat the distillation term).

With either, both sides are built the same way, so only the *scores* can tell them apart.
Standardising makes the profile independent of the student's width (its scores live on a smaller
scale), and masked channels cannot give the student away, as they would in raw representations.
Cost: ``users x n_items_sampled`` scores per step.

An earlier version arranged both profiles in the teacher's order of the items. A teacher profile
was then monotone by construction and a student's almost never was: the discriminator learned a
sortedness test within 3 epochs (loss ~0.01 on Book-Crossing), the adversarial term grew to 20x
the rest of the objective and its gradient only repeated the distillation term's.
"""

import torch
from torch import nn

from recbole_gcnprune.pruning.distill import standardise


def score_profiles(teacher_scores, student_scores):
    """Discriminator inputs: both score matrices standardised per row, columns as given."""
    return standardise(teacher_scores), standardise(student_scores)


def item_panel(n_items, size, generator):
    """``size`` distinct item ids (all items if fewer), drawn once, in a fixed random order."""
    return torch.randperm(n_items, generator=generator)[:size]


class ProfileDiscriminator(nn.Module):
    """MLP giving the logit that a score profile came from the teacher."""

    def __init__(self, width, hidden=64):
        """``width``: items per profile."""
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(width, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, profiles):
        return self.net(profiles).squeeze(1)
