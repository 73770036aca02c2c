"""GainPatience: the fine-tuning's patience counts only gains above ``finetune_stopping_delta``."""

import pytest

from recbole_gcnprune.trainer.stopping import GainPatience


def counts(patience, scores):
    return [patience.update(score) for score in scores]


def test_gains_below_the_delta_do_not_restart_the_count():
    patience = GainPatience(delta=0.001)
    assert counts(patience, [0.1, 0.1004, 0.1008, 0.1, 0.1011, 0.1015]) == [0, 1, 2, 3, 0, 1]
    assert patience.reference == pytest.approx(0.1011)  # the last real gain, not the best


def test_a_slow_climb_counts_once_it_adds_up_to_more_than_the_delta():
    patience = GainPatience(delta=0.001)
    scores = [0.1 + 0.0004 * k for k in range(7)]  # 0.1000, 0.1004, ..., 0.1024
    assert counts(patience, scores) == [0, 1, 2, 0, 1, 2, 0]


def test_smaller_is_better_counts_decreases():
    patience = GainPatience(delta=0.5, bigger=False)
    assert counts(patience, [10.0, 9.8, 9.0, 9.4, 8.0]) == [0, 1, 0, 1, 0]


def test_without_a_delta_every_strict_gain_counts():
    patience = GainPatience(delta=0)
    assert counts(patience, [0.1, 0.1, 0.1001, 0.1001]) == [0, 1, 0, 1]
