"""Validation batches built once and replayed (trainer/replayed_eval.py)."""

import pytest
from pruning_runs import build
from recbole.data.dataloader import FullSortEvalDataLoader

from recbole_gcnprune.trainer.replayed_eval import ReplayedEvalData, replayable


@pytest.fixture
def prune_dict(small_model_dict):
    return {**small_model_dict, "prune_ratio": 0.5}


def count_batch_builds(monkeypatch, loader):
    """A list that grows by one at every batch ``loader`` builds."""
    builds, original = [], loader.collate_fn
    monkeypatch.setattr(loader, "collate_fn", lambda index: builds.append(1) or original(index))
    return builds


def test_replayed_batches_evaluate_to_the_loaders_own_result(make_config, make_data, prune_dict):
    _, (train, valid, _), _, trainer = build(make_config, make_data,
                                             {**prune_dict, "prune_criterion": "none"})
    trainer.fit(train, valid, saved=True)
    replay = ReplayedEvalData(valid)
    assert isinstance(replay, FullSortEvalDataLoader) and len(replay) == len(list(valid))
    assert trainer.evaluate(replay, load_best_model=False) == trainer.evaluate(
        valid, load_best_model=False)


def test_fitting_builds_each_validation_batch_once(make_config, make_data, prune_dict,
                                                   monkeypatch):
    config_dict = {**prune_dict, "prune_criterion": "magnitude", "epochs": 4, "eval_step": 1}
    _, (train, valid, _), _, trainer = build(make_config, make_data, config_dict)
    builds = count_batch_builds(monkeypatch, valid)
    validations = []
    original = trainer.evaluate
    monkeypatch.setattr(trainer, "evaluate",
                        lambda *a, **k: validations.append(1) or original(*a, **k))
    trainer.fit(train, valid, saved=True)
    assert len(validations) >= 4  # the teacher's and the fine-tuning's
    assert len(builds) == len(trainer.eval_replays[id(valid)][1])


def test_other_loaders_pass_through(make_config, make_data, prune_dict):
    _, (train, _, _), _, _ = build(make_config, make_data, prune_dict)
    replays = {}
    assert replayable(train, replays) is train and not replays
