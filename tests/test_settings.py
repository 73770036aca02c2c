"""PruneSettings: one typed, validated object for the pruning keys."""

from pathlib import Path

import pytest

from recbole_gcnprune.errors import ConfigError
from recbole_gcnprune.settings import PruneSettings, key_names, keys_document
from recbole_gcnprune.trainer.run_keys import PRUNING_KEYS

REPO = Path(__file__).resolve().parents[1]


def test_defaults_are_the_validated_winners():
    settings = PruneSettings()
    assert settings.prune_criterion == "gan" and settings.prune_ratio == 0.75
    assert settings.search_learning_rate == 0  # the frozen search
    assert settings.search_stopping_step == 2
    assert settings.distill_top_items == 400


def test_a_missing_key_takes_the_default_and_an_optional_none_stays_none():
    settings = PruneSettings.from_config({"prune_ratio": 0.9, "finetune_eval_step": None,
                                          "search_learning_rate": "~"})
    assert settings.prune_ratio == 0.9
    assert settings.taylor_batches == PruneSettings().taylor_batches
    assert settings.finetune_eval_step is None
    assert settings.search_learning_rate is None  # ~: the training's learning_rate


def test_a_non_optional_key_given_as_none_takes_the_default():
    assert PruneSettings.from_config({"adv_weight": None}).adv_weight == 0.1


@pytest.mark.parametrize("key, value, pattern", [
    ("prune_ratio", 1.0, r"^invalid prune_ratio=1\.0: must be the fraction of parameters to remove"),
    ("search_epochs", -1, r"^invalid search_epochs=-1: must be a non-negative integer "
                          r"\(e\.g\. --search_epochs=30\)$"),
    ("finetune_learning_rate", 0, r"must be a number > 0, or ~ \(e\.g\. "
                                  r"--finetune_learning_rate=0\.002\)"),
    ("taylor_batches", 2.5, r"invalid taylor_batches=2\.5: must be a positive integer"),
])
def test_an_invalid_value_is_one_line_naming_the_fix(key, value, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        PruneSettings(**{key: value})
    assert "\n" not in str(info.value)


def test_cache_keys_cover_every_setting():
    assert PRUNING_KEYS == key_names()


@pytest.mark.parametrize("criterion, inactive, active", [
    ("gan", {"taylor_batches"}, {"search_epochs", "distill_top_items", "inherit_weight"}),
    ("magnitude", {"search_epochs", "search_learning_rate", "adv_weight", "tau_end",
                   "taylor_batches"}, {"distill_top_items", "inherit_weight"}),
    ("taylor", {"search_epochs"}, {"taylor_batches", "finetune_distill_weight"}),
    ("train_small", {"search_epochs", "prune_rotation", "inherit_weight", "taylor_batches",
                     "finetune_distill_weight", "distill_top_items", "n_items_sampled"}, set()),
    ("distill_small", {"inherit_weight"}, {"finetune_distill_weight", "n_items_sampled"}),
])
def test_keys_a_criterion_does_not_use_leave_its_run_key(criterion, inactive, active):
    left_out = set(PruneSettings(prune_criterion=criterion).inactive_keys())
    assert inactive <= left_out
    assert not (active | {"prune_ratio", "finetune_learning_rate"}) & left_out


def test_docs_key_table_is_generated_from_the_settings():
    """docs/keys.md is ``python -m recbole_gcnprune.settings``'s output: rerun it after a change."""
    assert (REPO / "docs" / "keys.md").read_text(encoding="utf-8") == keys_document()


def test_readme_key_table_names_real_keys_with_their_defaults():
    """Every row of the README's key table is a PruneSettings key at its default."""
    rows = [line for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| `")]
    defaults = PruneSettings().as_dict()
    pruning_rows = [r for r in rows if r.split("`")[1] in defaults]
    assert len(pruning_rows) >= 5
    for row in pruning_rows:
        name, default = row.split("`")[1], row.split("`")[3]
        expected = "~" if defaults[name] is None else str(defaults[name])
        assert default == expected, f"README says {name} defaults to {default}, not {expected}"
