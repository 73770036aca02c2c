"""The gan search's end-of-epoch hook: validate the hard-pruned student, keep the best, stop."""

import math
from logging import getLogger


class SearchValidation:
    """Every ``eval_step`` epochs (and after the last), scores the student hard-pruned to the
    current top-k (``score(keep_probabilities)``) and keeps the best (score, keep-probabilities,
    epoch, student weights); with ``eval_step`` <= 0 (RecBole: no validation while training)
    only after the last epoch. The search trains the student on, and must not run past the point
    where the pruned model stops improving on validation (it overfits on sparse data). With
    ``stopping_step`` > 0 it stops the search after that many validations without a new best."""

    def __init__(self, model, score, eval_step, epochs, stopping_step, bigger, history):
        self.model, self.score, self.history = model, score, history
        self.eval_step, self.epochs, self.stopping_step = eval_step, epochs, stopping_step
        self.bigger = bigger
        self.best = None  # {"score", "probs", "epoch", "state"} of the search's best validation
        self.start_choice = None  # the same of the selection it started from (epoch -1)
        self.stalled = 0

    def start(self, scores):
        """Score the selection the search starts from (``scores`` ranked as keep-probabilities
        are). It is :attr:`chosen` unless an epoch validates strictly better; it does not count
        toward the search's stop, which follows the search's own best."""
        score = self.score(scores)
        getLogger().info(f"mask search start: pruned student valid score {score:.4f}")
        self.start_choice = {"score": score, "probs": scores, "epoch": -1,
                             "state": {k: v.clone() for k, v in self.model.state_dict().items()}}
        return score

    @property
    def chosen(self):
        """The search's best validation, or its start where that validated strictly better."""
        if self.start_choice is not None and (
                self.best is None or self._better(self.start_choice["score"], self.best["score"])):
            return self.start_choice
        return self.best

    def __call__(self, epoch, keep_probabilities):
        """``AdversarialMaskSearch.run``'s ``end_of_epoch``: True stops the search."""
        last = epoch + 1 == self.epochs
        if not last and (self.eval_step <= 0 or (epoch + 1) % self.eval_step):
            return False
        score = self.score(keep_probabilities)
        getLogger().info(f"mask search epoch {epoch}: pruned student valid score {score:.4f}")
        self.history[-1]["pruned_valid_score"] = score
        if self.best is None or self._better(score, self.best["score"]):
            self.best = {"score": score, "probs": keep_probabilities, "epoch": epoch,
                         "state": {k: v.clone() for k, v in self.model.state_dict().items()}}
            self.stalled = 0
            return False
        self.stalled += 1
        stop = 0 < self.stopping_step <= self.stalled
        if stop:
            getLogger().info(f"mask search stops: {self.stalled} validations without a gain "
                             f"(search_stopping_step={self.stopping_step})")
        return stop

    def _better(self, score, than):
        """A strictly better score (a NaN never is; a NaN is beaten by any number)."""
        if math.isnan(score):
            return False
        if math.isnan(than):
            return True
        return score > than if self.bigger else score < than
