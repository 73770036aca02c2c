"""The discriminator: tells the dense teacher's score profiles from the masked student's.

Input, per user: scores over a fresh shared random sample of items at every step (the
distillation's), standardised per user; the teacher's profile is "real", the student's "fake".
A column names no item, so the discriminator can only judge the *shape* of the score
distribution; in every measured search it stayed at chance (loss 2 ln 2). A fixed panel of
items in a fixed order (GAL's class logits) was tried and found neutral
(docs/experiments/search.md). Both sides are built the same way, so only the *scores* can tell
them apart. Standardising makes the profile independent of the student's width, and masked
channels cannot give the student away, as they would in raw representations.

An earlier version arranged both profiles in the teacher's order of the items. A teacher profile
was then monotone by construction and a student's almost never was: the discriminator learned a
sortedness test within 3 epochs (loss ~0.01 on Book-Crossing), the adversarial term grew to 20x
the rest of the objective and its gradient only repeated the distillation term's.
"""

from torch import nn

from recbole_gcnprune.pruning.distill import standardise


def score_profiles(teacher_scores, student_scores):
    """Discriminator inputs: both score matrices standardised per row, columns as given."""
    return standardise(teacher_scores), standardise(student_scores)


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
