"""SearchValidation, the gan search's end-of-epoch hook, on a stand-in model and scores."""

import math

import pytest
from torch import nn

from recbole_gcnprune.trainer.search_validation import SearchValidation


def run_epochs(scores, eval_step=1, bigger=True, stopping_step=0):
    """Call the hook once per epoch; the i-th validation returns ``scores[i]``."""
    remaining = iter(scores)
    history = []
    hook = SearchValidation(nn.Linear(2, 1), lambda probs: next(remaining), eval_step,
                            len(scores) * max(eval_step, 1), stopping_step, bigger, history)
    validated, stopped_at = [], None
    for epoch in range(hook.epochs):
        history.append({})
        before = len(history[-1])
        if hook(epoch, {"g": epoch}):
            stopped_at = epoch
        if len(history[-1]) > before:
            validated.append(epoch)
        if stopped_at is not None:
            break
    return hook, validated, stopped_at


def test_validates_every_eval_step_and_after_the_last_epoch():
    hook, validated, _ = run_epochs([0.1, 0.3, 0.2], eval_step=2)
    assert validated == [1, 3, 5]
    assert hook.best["epoch"] == 3 and hook.best["score"] == 0.3


@pytest.mark.parametrize("eval_step", [0, -1])
def test_eval_step_off_validates_the_last_epoch_only(eval_step):
    remaining = iter([0.4])
    hook = SearchValidation(nn.Linear(2, 1), lambda probs: next(remaining), eval_step, 3, 0,
                            True, [{}, {}, {}])
    assert [hook(epoch, {}) for epoch in range(3)] == [False, False, False]
    assert hook.best["epoch"] == 2


@pytest.mark.parametrize("bigger, scores, best_epoch", [
    (True, [0.2, 0.2], 0),          # a tie is not a gain ...
    (False, [0.2, 0.2], 0),         # ... whichever the direction
    (False, [0.3, 0.1], 1),
    (True, [0.2, math.nan], 0),     # a NaN never becomes the best
    (False, [0.2, math.nan], 0),
    (True, [math.nan, 0.1], 1),     # and is beaten by any score ...
    (True, [math.nan, math.nan, math.nan], 0),  # ... but not by another NaN
])
def test_only_a_strict_gain_is_a_new_best(bigger, scores, best_epoch):
    hook, _, _ = run_epochs(scores, bigger=bigger)
    assert hook.best["epoch"] == best_epoch


@pytest.mark.parametrize("scores", [[0.3, 0.2, 0.1, 0.5], [math.nan] * 5])
def test_stops_after_stopping_step_validations_without_a_gain(scores):
    _, _, stopped_at = run_epochs(scores, stopping_step=2)
    assert stopped_at == 2


@pytest.mark.parametrize("scores, best_epoch", [
    ([0.3, 0.4], -1), ([0.3, 0.5], 1), ([0.3, 0.6], 1)])  # a tie: the search's
def test_a_start_is_chosen_where_it_validates_strictly_better(scores, best_epoch):
    remaining = iter([0.5, *scores])
    hook = SearchValidation(nn.Linear(2, 1), lambda probs: next(remaining), 1, 2, 0, True,
                            [{}, {}])
    assert hook.start({"g": "start"}) == 0.5
    for epoch in range(2):
        hook(epoch, {"g": epoch})
    assert hook.chosen["epoch"] == best_epoch
    assert hook.chosen["probs"] == ({"g": "start"} if best_epoch == -1 else {"g": 1})


def test_a_start_does_not_count_toward_the_stop():
    """The start validates above the first two epochs; the search goes on to its own best."""
    remaining = iter([0.5, 0.3, 0.2, 0.6, 0.1, 0.1])
    hook = SearchValidation(nn.Linear(2, 1), lambda probs: next(remaining), 1, 5, 2, True,
                            [{} for _ in range(5)])
    hook.start({"g": "start"})
    stops = [hook(epoch, {"g": epoch}) for epoch in range(5)]
    assert stops == [False, False, False, False, True]
    assert hook.chosen["epoch"] == 2 and hook.best["epoch"] == 2
