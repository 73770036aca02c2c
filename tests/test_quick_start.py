"""run_recbole_prune draws the data split under ``split_seed`` when given, else under ``seed``."""

import pytest

from recbole_gcnprune import quick_start


@pytest.fixture
def test_split(tiny_config_dict, monkeypatch):
    """``test_split(**seeds)``: the test interactions run_recbole_prune drew for those seeds."""
    drawn = []

    def recording_load_data(config):
        dataset, (train, valid, test) = load_data(config)
        inter = test._dataset.inter_feat
        drawn.append(list(zip(inter["user_id"].tolist(), inter["item_id"].tolist())))
        return dataset, (train, valid, test)

    load_data = quick_start.load_data
    monkeypatch.setattr(quick_start, "load_data", recording_load_data)

    def run(**seeds):
        config_dict = {**tiny_config_dict, "epochs": 1, **seeds}
        quick_start.run_recbole_prune("Pop", "tiny", config_dict=config_dict, saved=False)
        return drawn[-1]

    return run


def test_training_seed_alone_changes_the_split(test_split):
    assert test_split(seed=1) != test_split(seed=2)


def test_fixed_split_seed_keeps_the_split_across_training_seeds(test_split):
    assert test_split(seed=1, split_seed=7) == test_split(seed=2, split_seed=7)


def test_split_seed_draws_the_split(test_split):
    assert test_split(seed=1, split_seed=7) == test_split(seed=7)


def test_model_and_trainer_takes_a_trainer_subclass_and_closes_its_writer(tiny_config_dict):
    from recbole.trainer import Trainer

    from recbole_gcnprune.config import Config

    class RecordingTrainer(Trainer):
        pass

    config = Config("BPR", "tiny", None, tiny_config_dict)
    _, (train, _, _) = quick_start.load_data(config)
    with quick_start.model_and_trainer(config, train, RecordingTrainer) as (model, trainer):
        assert type(trainer) is RecordingTrainer and trainer.model is model
    assert trainer.tensorboard.all_writers is None  # what close() leaves
    _, default = quick_start.build_model_and_trainer(config, train)
    assert type(default) is Trainer  # the registry's, without trainer_class
    default.tensorboard.close()
