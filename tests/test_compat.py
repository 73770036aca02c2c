"""RecBole 1.2.1 on today's stack: the torch>=2.6 checkpoint shim, the four version pins and
the anomaly-mode reset.

Each test shows the failure the pin/shim prevents next to the working path, so each would fail
without it: the shim test re-installs RecBole's own ``_save_checkpoint``; the pin tests recreate
the newer library's behaviour (attribute removed, copy-on-write on, pkg_resources missing).
"""

import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy
import scipy.sparse as sp
import setuptools
import torch
from recbole.trainer.trainer import Trainer

from recbole_gcnprune import compat
from recbole_gcnprune.registry import get_model, get_trainer

CHECKPOINT_KEYS = {
    "config", "epoch", "cur_step", "best_valid_score", "state_dict", "other_parameter", "optimizer",
}


def _major_minor(version):
    return tuple(int(part) for part in version.split("+")[0].split(".")[:2])


def test_pinned_versions_are_installed():
    assert _major_minor(torch.__version__) >= (2, 6)  # the shim below is needed from 2.6 on
    assert _major_minor(np.__version__) < (2, 0)
    assert _major_minor(scipy.__version__) < (1, 13)
    assert _major_minor(pd.__version__) < (3, 0)
    assert _major_minor(setuptools.__version__) < (81, 0)


def _fit_lightgcn(make_config, make_data, config_dict):
    config = make_config("LightGCN", {**config_dict, "epochs": 1})
    _, (train, valid, test) = make_data(config)
    model = get_model("LightGCN")(config, train._dataset)
    trainer = get_trainer(config["MODEL_TYPE"], "LightGCN")(config, model)
    trainer.fit(train, valid, saved=True, show_progress=False)
    return config, model, trainer, (train, valid, test)


# ------------------------------------------------------------------------ torch weights_only
def test_trainer_checkpoint_reloads_under_weights_only(tiny_config_dict, make_config, make_data):
    config, model, trainer, (_, _, test) = _fit_lightgcn(make_config, make_data, tiny_config_dict)
    assert Trainer._save_checkpoint is compat._save_weights_only_checkpoint

    # RecBole's own reload (torch.load with torch>=2.6's default weights_only=True).
    result = trainer.evaluate(test, load_best_model=True, show_progress=False)
    assert "ndcg@20" in result and "f1@10" in result

    checkpoint = torch.load(trainer.saved_model_file, weights_only=True)
    assert set(checkpoint) == CHECKPOINT_KEYS
    assert checkpoint["config"]["model"] == "LightGCN"
    assert checkpoint["config"]["dataset"] == "tiny"
    assert isinstance(checkpoint["best_valid_score"], float)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(checkpoint["state_dict"][name], tensor)

    # Resuming (RecBole's resume_checkpoint reads config["model"] and the optimizer state).
    resumed = type(trainer)(config, get_model("LightGCN")(config, test._dataset))
    resumed.resume_checkpoint(trainer.saved_model_file)
    assert resumed.start_epoch == checkpoint["epoch"] + 1

    # Written atomically: no temp file left beside it.
    leftovers = [f for f in os.listdir(config["checkpoint_dir"]) if f.startswith(".tmp-")]
    assert leftovers == []


def test_recbole_checkpoint_fails_under_weights_only(
    tiny_config_dict, make_config, make_data, recbole_save_checkpoint, monkeypatch
):
    """Without the shim: RecBole pickles its Config into the checkpoint and cannot reload it."""
    config = make_config("LightGCN", tiny_config_dict)  # installs the shim ...
    monkeypatch.setattr(Trainer, "_save_checkpoint", recbole_save_checkpoint)  # ... take it away

    # What RecBole writes, by hand:
    path = os.path.join(str(tiny_config_dict["checkpoint_dir"]), "recbole-style.pth")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save({"config": config, "state_dict": {"w": torch.ones(2)}}, path, pickle_protocol=4)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        torch.load(path, weights_only=True)

    # And through RecBole's own trainer: fit saves, evaluate(load_best_model=True) fails.
    _, _, trainer, (_, _, test) = _fit_lightgcn(make_config, make_data, tiny_config_dict)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        trainer.evaluate(test, load_best_model=True, show_progress=False)


@pytest.mark.parametrize("model_name", ["ItemKNN", "EASE"])
def test_checkpoint_of_a_model_holding_scipy_matrices_reloads(tiny_config_dict, make_config,
                                                              make_data, model_name):
    """ItemKNN's and EASE's ``other_parameter()`` hold scipy/numpy matrices, which a
    ``weights_only`` load refuses; the shim leaves them out (``__init__`` rebuilds them)."""
    config = make_config(model_name, tiny_config_dict)
    _, (train, valid, test) = make_data(config)
    model = get_model(model_name)(config, train._dataset)
    assert not all(isinstance(v, torch.Tensor) for v in model.other_parameter().values())
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        path = os.path.join(str(tiny_config_dict["checkpoint_dir"]), "other.pth")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        torch.save({"other_parameter": model.other_parameter()}, path)
        torch.load(path, weights_only=True)
    trainer = get_trainer(config["MODEL_TYPE"], model_name)(config, model)
    trainer.fit(train, valid, saved=True, show_progress=False)
    before = trainer.evaluate(test, load_best_model=False, show_progress=False)
    assert trainer.evaluate(test, load_best_model=True, show_progress=False) == before


def test_compat_apply_is_idempotent(recbole_save_checkpoint, monkeypatch):
    monkeypatch.setattr(Trainer, "_save_checkpoint", recbole_save_checkpoint)
    from recbole.trainer.trainer import TraditionalTrainer

    monkeypatch.setattr(TraditionalTrainer, "__init__", TraditionalTrainer.__init__)
    monkeypatch.setattr(compat, "_APPLIED", False)
    compat.apply()
    wrapped = TraditionalTrainer.__init__
    compat.apply()
    assert TraditionalTrainer.__init__ is wrapped  # not wrapped twice
    assert Trainer._save_checkpoint is compat._save_weights_only_checkpoint


# ----------------------------------------------------------------------------- numpy < 2
def test_numpy_pin_recbole_config_builds(tiny_config_dict, monkeypatch):
    from recbole.config import Config as RecBoleConfig

    config = RecBoleConfig("BPR", "tiny", config_dict=tiny_config_dict)
    assert config["model"] == "BPR"

    # numpy 2 removed np.float_, which RecBole's Config.compatibility_settings reads.
    monkeypatch.delattr(np, "float_")
    with pytest.raises(AttributeError, match="float_"):
        RecBoleConfig("BPR", "tiny", config_dict=tiny_config_dict)


QUICK_START_SCRIPT = """
import sys
import recbole.quick_start
print("imported")
# Then as with setuptools>=81 (no pkg_resources): forget ray and re-import.
for name in [m for m in sys.modules if m in ("ray", "pkg_resources")
             or m.startswith(("ray.", "pkg_resources.", "recbole.quick_start"))]:
    del sys.modules[name]
sys.modules["pkg_resources"] = None
try:
    import recbole.quick_start
except ImportError as err:
    print("without pkg_resources:", err)
else:
    print("without pkg_resources: imported")
"""


def test_recbole_quick_start_imports(tmp_path):
    """``recbole.quick_start`` imports ray 2.6.3, which needs numpy<2 and pkg_resources
    (setuptools<81). One interpreter (ray is heavy): a clean import, then the failure with
    pkg_resources blocked."""
    proc = subprocess.run([sys.executable, "-c", QUICK_START_SCRIPT], check=False, cwd=tmp_path,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "imported"
    assert lines[1].startswith("without pkg_resources:") and "pkg_resources" in lines[1][22:]
    assert lines[1] != "without pkg_resources: imported"


# ---------------------------------------------------------------------------- scipy < 1.13
def test_scipy_pin_recbole_lightgcn_builds(tiny_config_dict, make_config, make_data, monkeypatch):
    config = make_config("LightGCN", tiny_config_dict)
    dataset, _ = make_data(config)
    model = get_model("LightGCN")(config, dataset)
    n = dataset.user_num + dataset.item_num
    assert tuple(model.norm_adj_matrix.shape) == (n, n)

    # scipy 1.13 removed dok_matrix._update, which RecBole's get_norm_adj_mat calls.
    owner = next(k for k in sp.dok_matrix.__mro__ if "_update" in vars(k))
    monkeypatch.delattr(owner, "_update")
    with pytest.raises(AttributeError, match="_update"):
        get_model("LightGCN")(config, dataset)


# ------------------------------------------------------------------------------ pandas < 3
NAN_ROWS = ["u1\ti1\t3.0\t1.0", "u1\ti2\t\t2.0", "u2\ti1\t5.0\t3.0", "u2\ti3\t4.0\t4.0"]


def test_pandas_pin_recbole_fills_missing_floats(tmp_path, in_tmp, make_config, write_dataset):
    """RecBole fills an empty float field with the column mean via
    ``feat[field].fillna(..., inplace=True)``; under pandas 3's copy-on-write that is a no-op."""
    from recbole.data import create_dataset

    write_dataset(tmp_path, name="holes", rows=NAN_ROWS)
    config = make_config("BPR", {
        "data_path": str(tmp_path),
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
        "state": "WARNING",
        "use_gpu": False,
    }, dataset="holes")

    def rating_of_row_1():
        ratings = create_dataset(config).inter_feat["rating"]
        return float(ratings[1]), float(np.nansum(ratings))

    # The failure mode, as pandas 3 would behave: the NaN stays.
    with pd.option_context("mode.copy_on_write", True), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' ChainedAssignmentError warning, expected here
        filled, _ = rating_of_row_1()
    assert np.isnan(filled)

    # With pandas<3 defaults RecBole imputes the mean of 3, 5 and 4.
    filled, total = rating_of_row_1()
    assert filled == pytest.approx(4.0)
    assert total == pytest.approx(16.0)


def test_traditional_trainer_validates_with_eval_step_above_one(tiny_config_dict, make_config,
                                                                make_data):
    """Without compat's clamp, Pop (epochs forced to 1, eval_step 5) never saves a checkpoint
    and RecBole's test reload raises FileNotFoundError."""
    from recbole_gcnprune.registry import get_model, get_trainer

    config = make_config("Pop", {**tiny_config_dict, "eval_step": 5})
    _, (train, valid, test) = make_data(config)
    model = get_model("Pop")(config, train._dataset)
    trainer = get_trainer(config["MODEL_TYPE"], "Pop")(config, model)
    assert trainer.eval_step == 1
    trainer.fit(train, valid, saved=True)
    assert "ndcg@20" in trainer.evaluate(test, load_best_model=True)



# ------------------------------------------------------------- autograd anomaly mode (sine.py)
ANOMALY_SCRIPT = """
import importlib
import torch
from recbole_gcnprune.registry import get_model
get_model("SGL")  # lists RecBole's models: imports every sequential model, sine.py included
print("with the shim:", torch.is_anomaly_enabled())
importlib.reload(importlib.import_module("recbole.model.sequential_recommender.sine"))
print("sine.py imported again:", torch.is_anomaly_enabled())
"""


def test_recbole_model_lookup_leaves_autograd_anomaly_mode_off(tmp_path):
    """A fresh interpreter: looking up a RecBole model leaves anomaly detection off; the import
    of RecBole's sine.py, which the shim undoes, is what switches it on."""
    proc = subprocess.run([sys.executable, "-c", ANOMALY_SCRIPT], check=False, cwd=tmp_path,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == ["with the shim: False", "sine.py imported again: True"]
