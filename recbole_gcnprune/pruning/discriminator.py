"""The discriminator: tells the dense teacher's scores from the masked student's, for a known user
on known items.

Input, per user: a *panel* of items (the teacher's top ``PANEL_TOP`` items for that user and the
first ``PANEL_SAMPLED`` of the step's shared random items) and, for each panel item, the
standardised score under judgement (the teacher's: "real"; the student's: "fake") beside what the
discriminator may know of the pair: the teacher's user and item vectors multiplied channel by
channel (``u * i``, divided by the spread of the teacher's panel scores). It embeds each (pair,
score) and averages over the panel (a set function: the panel's order tells nothing).

So it can learn whether a score fits *this user and this item*, which a student that ranks worse
changes, and its gradient asks the student's scores to fit the pairs. Two earlier inputs sat at
chance or learned a shortcut (docs/experiments/search.md): a user's standardised scores on
random items alone (only the shape of a score distribution, which a 16-channel student
reproduces: loss 2 ln 2 for the whole search) and the same profile sorted in the teacher's order
(a sortedness test, learned in 3 epochs, whose gradient only repeated the distillation's).
"""

import torch
import torch.nn.functional as F
from torch import nn

from recbole_gcnprune.pruning.distill import standardise, teacher_top

PANEL_TOP = 16
PANEL_SAMPLED = 48


class PanelDiscriminator(nn.Module):
    """Logit that a panel of scores is the teacher's (see module docstring)."""

    def __init__(self, width, hidden=32):
        """``width``: the teacher's embedding width."""
        super().__init__()
        self.item_net = nn.Sequential(
            nn.Linear(width + 1, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden))
        self.head = nn.Sequential(nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, pairs, scores):
        """``pairs``: ``(users, panel, width)``; ``scores``: ``(users, panel)``."""
        h = self.item_net(torch.cat([pairs, scores.unsqueeze(2)], dim=2)).mean(dim=1)
        return self.head(h).squeeze(1)


class Panels:
    """The teacher's side of every panel: its top items per user (computed once), the pair
    features and the teacher's standardised scores; the student's standardised scores on the
    same items."""

    def __init__(self, teacher_user, teacher_item):
        self.teacher_user, self.teacher_item = teacher_user, teacher_item
        self.top_items = teacher_top(teacher_user, teacher_item, PANEL_TOP)[1]

    def items(self, users, shared):
        """``(users, panel)`` item indices: each user's top items, then the shared ones."""
        sampled = shared[:PANEL_SAMPLED].expand(users.numel(), -1)
        return torch.cat([self.top_items[users], sampled], dim=1)

    def teacher_side(self, users, shared):
        """``(pairs, standardised teacher scores)`` of ``users`` on their panel."""
        pairs = self.teacher_user[users].unsqueeze(1) * self.teacher_item[self.items(users, shared)]
        scores = pairs.sum(dim=2)
        spread = scores.std(dim=1, keepdim=True) + 1e-6
        return pairs / spread.unsqueeze(2), standardise(scores)

    def student_scores(self, users, shared, user_all, item_all):
        """The student's standardised scores of ``users`` on their panel, read off the rows the
        panel names (a frozen student's ``MaskedRows`` then masks only those rows)."""
        rows = user_all[users]
        top = (rows.unsqueeze(1) * item_all[self.top_items[users]]).sum(dim=2)
        sampled = rows @ item_all[shared[:PANEL_SAMPLED]].T
        return standardise(torch.cat([top, sampled], dim=1))


def discriminator_loss(real_logits, fake_logits):
    """BCE with teacher = 1, student = 0, and the accuracy of that call."""
    ones = torch.ones_like(real_logits)
    loss = (F.binary_cross_entropy_with_logits(real_logits, ones)
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    accuracy = ((real_logits > 0).float().mean() + (fake_logits < 0).float().mean()) / 2
    return loss, float(accuracy)
