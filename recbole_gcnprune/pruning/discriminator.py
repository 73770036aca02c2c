"""The discriminator: tells the dense teacher's score profiles from the masked student's.

Input, per user: scores over a shared random sample of items, in the sample's (random) order,
standardised per user; the teacher's profile is "real", the student's "fake". Both sides are
built the same way, so only the *scores* can tell them apart: how the model spreads a user's
scores over items (how sharply its head stands out, which items it lifts). Standardising makes the
profile independent of the student's width (its scores live on a smaller scale), and masked
channels cannot give the student away, as they would in raw representations. Cost:
``users x n_items_sampled`` scores per step.

An earlier version arranged both profiles in the teacher's order of the items. A teacher profile
was then monotone by construction and a student's almost never was: the discriminator learned a
sortedness test within 3 epochs (loss ~0.01 on Book-Crossing), the adversarial term grew to 20x
the rest of the objective and its gradient only repeated the distillation term's.
"""

from torch import nn

from recbole_gcnprune.pruning.distill import standardise


def score_profiles(teacher_scores, student_scores):
    """Discriminator inputs: both score matrices standardised per row, columns as sampled."""
    return standardise(teacher_scores), standardise(student_scores)


class ProfileDiscriminator(nn.Module):
    """MLP giving the logit that a score profile came from the teacher."""

    def __init__(self, n_items_sampled, hidden=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_items_sampled, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, profiles):
        return self.net(profiles).squeeze(1)
