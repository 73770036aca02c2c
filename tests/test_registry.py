"""Name lookup: plugin classes first, then RecBole's; unknown names get a one-line hint.

Fails without the fix: RecBole's own ``get_model`` cannot find ``GCNPruneGAN`` (asserted below),
so plugin-first lookup is what makes it resolvable; the trainer test installs a dummy plugin
trainer to show the plugin table is consulted before RecBole's.
"""

import pytest
from recbole.model.general_recommender import BPR, NGCF, LightGCN
from recbole.trainer import Trainer
from recbole.utils import get_model as recbole_get_model
from recbole.utils import get_trainer as recbole_get_trainer

import recbole_gcnprune.trainer as plugin_trainers
from recbole_gcnprune.errors import UserInputError
from recbole_gcnprune.model import GCNPruneGAN
from recbole_gcnprune.registry import get_model, get_trainer, plugin_models, recbole_model_names


def test_plugin_model_first():
    assert plugin_models()["GCNPruneGAN"] is GCNPruneGAN
    assert get_model("GCNPruneGAN") is GCNPruneGAN
    # RecBole alone does not know it (it even trips over its optional lightgbm import on the way)
    with pytest.raises((ValueError, ImportError)):
        recbole_get_model("GCNPruneGAN")


@pytest.mark.parametrize("name, cls", [("LightGCN", LightGCN), ("BPR", BPR), ("NGCF", NGCF)])
def test_recbole_model_fallback(name, cls):
    assert name in recbole_model_names()
    assert get_model(name) is cls


@pytest.mark.parametrize(
    "name, close",
    [("LightGCM", "LightGCN"), ("GCNPrune", "GCNPruneGAN"), ("lightgcn", "LightGCN")],
)
def test_unknown_model_lists_close_names(name, close):
    with pytest.raises(UserInputError, match=rf"^unknown model '{name}': did you mean .*\b{close}\b"):
        get_model(name)


def test_unknown_model_message_is_one_line():
    with pytest.raises(UserInputError, match=r"^unknown model 'NoSuchModel'") as info:
        get_model("NoSuchModel")
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)  # callers catching ValueError still work


def test_trainer_fallback_is_recbole_trainer():
    model_type = LightGCN.type
    assert get_trainer(model_type, "LightGCN") is Trainer
    assert get_trainer(model_type, "LightGCN") is recbole_get_trainer(model_type, "LightGCN")


def test_plugin_trainer_first(monkeypatch):
    class DummyTrainer(Trainer):
        pass

    monkeypatch.setitem(plugin_trainers.MODEL_TRAINERS, "LightGCN", DummyTrainer)
    assert get_trainer(LightGCN.type, "LightGCN") is DummyTrainer
