"""Patience that ignores noise-level gains: the fine-tuning's ``finetune_stopping_delta``.

RecBole's ``early_stopping`` restarts its patience at every new best, however small the gain.
A low-rate fine-tuning creeps (Book-Crossing: gains of 0.0001 NDCG@20, far below the
validation's sampling noise, each buying another 50 epochs). :class:`GainPatience` counts the
validations since the score last beat its reference by more than ``delta`` (the reference is
then that score), as Keras' and Lightning's ``min_delta``; the best model is still RecBole's,
saved at every new best whatever its margin.
"""

import math


class GainPatience:
    """Validations since the last gain larger than ``delta`` (``bigger``: higher is better)."""

    def __init__(self, delta, bigger=True):
        self.delta = delta
        self.sign = 1 if bigger else -1
        self.reference = None
        self.stalled = 0

    def update(self, score):
        """Record one validation ``score``; return the validations since the last real gain
        (0 when ``score`` is one)."""
        gain = math.inf if self.reference is None else self.sign * (score - self.reference)
        if gain > self.delta:
            self.reference, self.stalled = score, 0
        else:
            self.stalled += 1
        return self.stalled
