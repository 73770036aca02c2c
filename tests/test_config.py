"""Our Config: properties/ layered over RecBole's defaults, RecBole's precedence kept, and our keys
validated when the config is built.

Fails without the fix: each properties assertion is paired with RecBole's plain Config giving a
different value (so it only passes because properties/ is read); the precedence tests catch
properties merged above the external layers (e.g. applied to ``final_config_dict`` after
``super().__init__``, checked by monkeypatching ``_load_internal_config_dict`` to do that); the
validation tests fail with ``validate`` monkeypatched to a no-op (the configs then build).
"""

import sys

import pytest
from recbole.config import Config as RecBoleConfig

from recbole_gcnprune.config import Config, properties_dir
from recbole_gcnprune.errors import ConfigError, UserInputError

PLUGIN_METRICS = ["Recall", "Precision", "F1", "NDCG", "Hit", "MRR"]


def test_properties_dir_is_the_checkout_folder():
    from pathlib import Path

    folder = Path(properties_dir())
    assert (folder / "overall.yaml").is_file()
    assert (folder / "model" / "GCNPruneGAN.yaml").is_file()


@pytest.mark.parametrize("model", ["GCNPruneGAN", "LightGCN"])
def test_properties_loaded(model, tiny_config_dict, make_config):
    config = make_config(model, tiny_config_dict)
    assert config["metrics"] == PLUGIN_METRICS
    assert config["valid_metric"] == "NDCG@20"
    assert config["valid_metric_bigger"] is True
    assert config["topk"] == [10, 20]
    assert config["eval_args"]["split"] == {"RS": [0.8, 0.1, 0.1]}
    assert config["stopping_step"] == 10


def test_recbole_defaults_differ_from_properties(tiny_config_dict):
    """The values above come from properties/, not from RecBole."""
    config = RecBoleConfig("LightGCN", "tiny", config_dict=tiny_config_dict)
    assert config["valid_metric"] != "NDCG@20"
    assert "F1" not in config["metrics"]


def test_model_properties_loaded(tiny_config_dict, make_config):
    config = make_config("GCNPruneGAN", tiny_config_dict)
    assert config["embedding_size"] == 64
    assert config["n_layers"] == 3
    assert config["layer_transform"] == "none"
    assert config["transform_size"] == 64
    assert config["reg_weight"] == pytest.approx(1e-5)


def test_config_dict_over_properties(tiny_config_dict, make_config):
    config = make_config("GCNPruneGAN", {**tiny_config_dict, "embedding_size": 16,
                                         "valid_metric": "Recall@10"})
    assert config["embedding_size"] == 16
    assert config["valid_metric"] == "Recall@10"


def test_config_file_over_properties(tmp_path, tiny_config_dict, make_config):
    path = tmp_path / "over.yaml"
    path.write_text("embedding_size: 24\nn_layers: 1\n")
    config = make_config("GCNPruneGAN", tiny_config_dict, config_file_list=[str(path)])
    assert config["embedding_size"] == 24
    assert config["n_layers"] == 1
    # ... and the config dict over the file
    config = make_config("GCNPruneGAN", {**tiny_config_dict, "embedding_size": 16},
                         config_file_list=[str(path)])
    assert config["embedding_size"] == 16
    assert config["n_layers"] == 1


def test_command_line_over_config_dict(tiny_config_dict, make_config, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["run_recbole_prune.py", "--embedding_size=32"])
    config = make_config("GCNPruneGAN", {**tiny_config_dict, "embedding_size": 16})
    assert config["embedding_size"] == 32


def test_model_from_command_line(tiny_config_dict, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["run_recbole_prune.py", "--model=GCNPruneGAN"])
    config = Config(dataset="tiny", config_dict=tiny_config_dict)
    assert config["model"] == "GCNPruneGAN"


def test_no_model_is_a_config_error(tiny_config_dict):
    with pytest.raises(ConfigError, match=r"no model given: pass --model=NAME"):
        Config(dataset="tiny", config_dict=tiny_config_dict)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "key, value, pattern",
    [
        ("embedding_size", -8, r"invalid embedding_size=-8: must be a positive integer"),
        ("embedding_size", 0, r"invalid embedding_size=0: must be a positive integer"),
        ("embedding_size", 8.5, r"invalid embedding_size=8\.5: must be a positive integer"),
        ("transform_size", -1, r"invalid transform_size=-1: must be a positive integer"),
        ("n_layers", -1, r"invalid n_layers=-1: must be a non-negative integer"),
        ("layer_transform", "bogus", r"invalid layer_transform='bogus': must be one of none, linear"),
        ("prune_ratio", 0, r"invalid prune_ratio=0: .*strictly between 0 and 1"),
        ("prune_ratio", 1, r"invalid prune_ratio=1: .*strictly between 0 and 1"),
        ("prune_ratio", 1.5, r"invalid prune_ratio=1\.5: .*strictly between 0 and 1"),
        ("prune_ratio", -0.1, r"invalid prune_ratio=-0\.1: .*strictly between 0 and 1"),
        ("prune_ratio", True, r"invalid prune_ratio=True: .*strictly between 0 and 1"),
        ("prune_criterion", "l1", r"invalid prune_criterion='l1': must be one of gan, magnitude"),
        ("reg_weight", -1e-4, r"invalid reg_weight=-0\.0001: must be a number >= 0"),
        ("ranking_loss", "BPR", r"invalid ranking_loss='BPR': must be one of bpr, ccl"),
        ("ccl_margin", 1.5, r"invalid ccl_margin=1\.5: must be a cosine in \[-1, 1\]"),
        ("ccl_negative_weight", -1, r"invalid ccl_negative_weight=-1: must be a number >= 0"),
        ("ccl_item_norm", "no", r"invalid ccl_item_norm='no': must be True or False"),
        ("finetune_eval_step", 0, r"invalid finetune_eval_step=0: must be a positive integer"),
        ("finetune_learning_rate", 0, r"invalid finetune_learning_rate=0: must be a number > 0"),
        ("search_learning_rate", -1, r"invalid search_learning_rate=-1: must be a number >= 0"),
        ("search_stopping_step", -1, r"invalid search_stopping_step=-1: must be a non-negative integer"),
        ("taylor_batches", 0, r"invalid taylor_batches=0: must be a positive integer"),
        ("generator_lr", -0.01, r"invalid generator_lr=-0\.01: must be a number > 0"),
        ("discriminator_lr", 0, r"invalid discriminator_lr=0: must be a number > 0"),
        ("tau_start", 0, r"invalid tau_start=0: must be a number > 0"),
        ("tau_end", -1, r"invalid tau_end=-1: must be a number > 0"),
        ("n_items_sampled", 0, r"invalid n_items_sampled=0: must be a positive integer"),
        ("split_seed", 1.5, r"invalid split_seed=1\.5: must be an integer"),
        ("teacher_checkpoint", 3, r"invalid teacher_checkpoint=3: must be a file path"),
    ],
)
def test_invalid_values_rejected_at_build(key, value, pattern, tiny_config_dict, make_config):
    with pytest.raises(ConfigError, match=pattern) as info:
        make_config("GCNPruneGAN", {**tiny_config_dict, key: value})
    message = str(info.value)
    assert "\n" not in message
    assert f"(e.g. --{key}=" in message  # names a fix
    assert isinstance(info.value, UserInputError)  # the CLI turns it into exit 2


def test_invalid_value_from_command_line(tiny_config_dict, make_config, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["run_recbole_prune.py", "--prune_ratio=1.5"])
    with pytest.raises(ConfigError, match=r"invalid prune_ratio=1\.5"):
        make_config("GCNPruneGAN", tiny_config_dict)


def test_invalid_value_rejected_for_recbole_models(tiny_config_dict, make_config):
    with pytest.raises(ConfigError, match=r"invalid embedding_size=-8"):
        make_config("LightGCN", {**tiny_config_dict, "embedding_size": -8})


def test_recbole_models_keep_their_own_meaning_of_shared_key_names(tiny_config_dict, make_config):
    """HGN's and SHAN's ``reg_weight`` is a list (our rule wants one number >= 0)."""
    for model in ("HGN", "SHAN"):
        config = make_config(model, {**tiny_config_dict, "loss_type": "BPR"})
        assert isinstance(config["reg_weight"], list)


@pytest.mark.parametrize("model, key", [
    ("GCNPruneGAN", "finetune_eval_step"), ("GCNPruneGAN", "teacher_checkpoint"),
    ("GCNPruneGAN", "split_seed"), ("LightGCN", "split_seed"),  # read for every model
])
@pytest.mark.parametrize("spelling", ["~", "none"])
def test_tilde_on_the_command_line_means_not_set(model, key, spelling, tiny_config_dict,
                                                 make_config, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["run_recbole_prune.py", f"--{key}={spelling}"])
    assert make_config(model, tiny_config_dict)[key] is None


@pytest.mark.parametrize("ratio", [0.5, 0.75, 0.01, 0.99])
def test_valid_prune_ratio_accepted(ratio, tiny_config_dict, make_config):
    config = make_config("GCNPruneGAN", {**tiny_config_dict, "prune_ratio": ratio})
    assert config["prune_ratio"] == ratio


def test_variant_config_files_resolve_by_name_and_missing_ones_fail(tiny_config_dict, make_config):
    from recbole_gcnprune.config import resolve_config_files
    from recbole_gcnprune.errors import ConfigError

    (resolved,) = resolve_config_files(["book-crossing-bench5.yaml"])
    assert resolved.endswith("variants/book-crossing-bench5.yaml")
    with pytest.raises(ConfigError, match="not found.*book-crossing-bench5.yaml"):
        make_config("GCNPruneGAN", tiny_config_dict, config_file_list=["nope.yaml"])


def test_book_crossing_gives_gcnprunegan_its_validated_settings(tiny_config_dict, make_config):
    """properties/dataset/book-crossing.yaml: the settings chosen on Book-Crossing's validation
    split are what ``--dataset=book-crossing`` gets, over the model's defaults."""
    config = make_config("GCNPruneGAN", tiny_config_dict, dataset="book-crossing")
    assert config["ranking_loss"] == "ccl" and config["ccl_item_norm"] is False
    assert config["learning_rate"] == 0.005
    assert config["finetune_learning_rate"] == 0.002 and config["finetune_eval_step"] == 1
    assert config["search_learning_rate"] == 0  # every dataset's default: the frozen search
