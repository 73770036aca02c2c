"""The discriminator: tells the dense teacher's ranking behaviour from the masked student's.

Input, per user: scores over a shared random sample of items, arranged in the *teacher's* order
of those items and standardised per user. A teacher profile ("real") is then monotone
decreasing; a student profile ("fake") is monotone only where the student ranks the items as the
teacher does, and its shape shows how sharply it separates the top. This is the part of the
output a top-K recommender is judged on, it is independent of the student's width (masked
channels cannot give the student away, as they would in raw representations), and it is cheap:
``users x n_items_sampled`` scores per step.
"""

import torch
from torch import nn

from recbole_gcnprune.pruning.distill import standardise


def ranked_profiles(teacher_scores, student_scores):
    """Both score matrices arranged by the teacher's descending order, standardised per row."""
    order = torch.argsort(teacher_scores, dim=1, descending=True)
    real = torch.gather(teacher_scores, 1, order)
    fake = torch.gather(student_scores, 1, order)
    return standardise(real), standardise(fake)


class ProfileDiscriminator(nn.Module):
    """MLP giving the logit that a ranked profile came from the teacher."""

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
