"""Pruning runs over popularity buckets (global and frequency allocations), end to end on tiny
data: the budget, reload, resume, and the from-scratch models at mixed widths."""

import pytest
import torch
from pruning_runs import build, fit_and_test, rerun_without_phases

from recbole_gcnprune.errors import ConfigError
from recbole_gcnprune.pruning.checkpoint import load_into, read_checkpoint
from recbole_gcnprune.pruning.groups import kept_parameters, parameter_budget
from recbole_gcnprune.pruning.importance import channel_cost


@pytest.fixture
def bucket_dict(prune_dict):
    return {**prune_dict, "layer_transform": "none", "prune_allocation": "global",
            "popularity_buckets": 2, "prune_ratio": 0.5}


def _dense_groups(make_config, make_data, config_dict):
    _, _, model, _ = build(make_config, make_data, config_dict)
    model.split_into_buckets(config_dict["popularity_buckets"])
    return model.channel_groups()


@pytest.mark.parametrize("criterion", ["gan", "magnitude", "distill_small", "train_small"])
@pytest.mark.parametrize("allocation", ["global", "frequency"])
def test_a_bucketed_run_prunes_to_the_parameter_budget(make_config, make_data, bucket_dict,
                                                       criterion, allocation):
    config_dict = {**bucket_dict, "prune_criterion": criterion, "prune_allocation": allocation}
    groups = _dense_groups(make_config, make_data, config_dict)
    _, loaders, _, trainer = build(make_config, make_data, config_dict)
    result = fit_and_test(trainer, loaders)
    assert "ndcg@20" in result
    kept = trainer.report["kept"]
    assert set(kept) == {g.name for g in groups}
    budget = parameter_budget(groups, 0.5)
    spent = kept_parameters(groups, kept)
    assert spent <= budget < spent + min(channel_cost(g) for g in groups)
    assert trainer.report["pruned"]["parameters"] == spent
    assert trainer.report["buckets"]["rows"] == {g.name: channel_cost(g) for g in groups}


def test_a_bucketed_checkpoint_reloads_and_reproduces_metrics(make_config, make_data,
                                                              bucket_dict):
    _, loaders, _, trainer = build(make_config, make_data, bucket_dict)
    result = fit_and_test(trainer, loaders)
    checkpoint = torch.load(trainer.saved_model_file, weights_only=True)
    assert "user_embedding.bucket_of_row" in checkpoint["state_dict"]
    _, _, fresh, fresh_trainer = build(make_config, make_data, bucket_dict)
    load_into(fresh, read_checkpoint(trainer.saved_model_file))
    assert fresh.bucketed
    assert fresh_trainer.evaluate(loaders[2], load_best_model=False) == result


def test_a_bucketed_rerun_resumes_finished_phases(make_config, make_data, bucket_dict,
                                                  monkeypatch):
    _, loaders, _, trainer = build(make_config, make_data, bucket_dict)
    first = fit_and_test(trainer, loaders)
    result, again = rerun_without_phases(make_config, make_data, bucket_dict, monkeypatch)
    assert result == first and again.report["kept"] == trainer.report["kept"]


def test_global_distill_small_trains_the_gan_searchs_widths_from_scratch(make_config, make_data,
                                                                       bucket_dict):
    widths = {}
    for criterion in ("gan", "distill_small"):
        _, loaders, _, trainer = build(make_config, make_data,
                                       {**bucket_dict, "prune_criterion": criterion})
        trainer.fit(loaders[0], loaders[1], saved=True)
        widths[criterion] = trainer.report["kept"]
    assert widths["distill_small"] == widths["gan"]
    assert "search_history" in trainer.report


def test_global_train_small_takes_the_frequency_rules_widths(make_config, make_data,
                                                             bucket_dict):
    widths = {}
    for allocation in ("global", "frequency"):
        _, loaders, _, trainer = build(make_config, make_data, {
            **bucket_dict, "prune_criterion": "train_small", "prune_allocation": allocation})
        trainer.fit(loaders[0], loaders[1], saved=True)
        widths[allocation] = trainer.report["kept"]
    assert widths["global"] == widths["frequency"]


def test_global_with_layer_transforms_spends_one_budget_over_the_models_groups(
        make_config, make_data, prune_dict):
    config_dict = {**prune_dict, "prune_allocation": "global", "prune_criterion": "magnitude"}
    _, loaders, model, trainer = build(make_config, make_data, config_dict)
    groups = model.channel_groups()
    budget = parameter_budget(groups, config_dict["prune_ratio"])
    trainer.fit(loaders[0], loaders[1], saved=True)
    assert not trainer.model.bucketed and "buckets" not in trainer.report
    assert kept_parameters(groups, trainer.report["kept"]) <= budget


def test_frequency_with_layer_transforms_is_a_one_line_config_error(make_config, bucket_dict):
    with pytest.raises(ConfigError, match="need --layer_transform=none"):
        make_config("GCNPruneGAN", {**bucket_dict, "prune_allocation": "frequency",
                                    "layer_transform": "linear"})


def test_a_bucketed_run_exports_and_verifies_exactly(make_config, make_data, bucket_dict,
                                                     tmp_path):
    from recbole_gcnprune.serving import export, verify

    _, loaders, _, trainer = build(make_config, make_data, bucket_dict)
    trainer.fit(loaders[0], loaders[1], saved=True)
    folder = str(tmp_path / "export")
    flags = {"config_dict": bucket_dict, "overrides": []}
    manifest = export(trainer.run_dir, folder, "float32", model="GCNPruneGAN", dataset="tiny",
                      **flags)
    assert manifest["vector_width"] == trainer.model.user_embedding.embedding_dim
    assert len(manifest["widths"]) == 4  # two buckets per side
    result = verify(folder, trainer.run_dir, **flags)
    assert result.exact and result.vectors_identical
