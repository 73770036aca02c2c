"""Shared tiny-data fixtures for the foundation tests.

Everything here is small and deterministic: a 60-user x 50-item RecBole atomic dataset written to
``tmp_path`` (10 distinct items per user, so RecBole's per-user 80/10/10 split leaves 8/1/1), and
a config dict that trains in well under a second per epoch on CPU.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

# RecBole's own ``Trainer._save_checkpoint``, captured before anything builds our Config (which
# calls ``compat.apply()`` and replaces it); tests/test_compat.py uses it to show the failure.
from recbole.data.interaction import Interaction
from recbole.trainer.trainer import Trainer as _RecBoleTrainer

REPO_ROOT = Path(__file__).absolute().parents[1]
RECBOLE_SAVE_CHECKPOINT = _RecBoleTrainer._save_checkpoint

N_USERS = 60
N_ITEMS = 50
ITEMS_PER_USER = 10
INTER_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float"


def write_tiny_dataset(root, name="tiny", seed=0, n_users=N_USERS, n_items=N_ITEMS,
                       per_user=ITEMS_PER_USER, rows=None):
    """Write ``root/name/name.inter``; ``rows`` (list of str lines) overrides the generated ones.
    Returns the dataset folder."""
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    if rows is None:
        rng = np.random.default_rng(seed)
        rows = []
        t = 0
        for u in range(n_users):
            for i in rng.choice(n_items, size=per_user, replace=False):
                t += 1
                rating = float(rng.integers(1, 6))
                rows.append(f"u{u}\ti{int(i)}\t{rating}\t{float(t)}")
    (folder / f"{name}.inter").write_text(INTER_HEADER + "\n" + "\n".join(rows) + "\n")
    return folder


@pytest.fixture(autouse=True)
def _clean_argv(monkeypatch):
    """RecBole's Config parses ``sys.argv`` for ``--key=value``: keep pytest's own argv out."""
    monkeypatch.setattr(sys, "argv", ["pytest"])


@pytest.fixture(autouse=True)
def _seeded_torch():
    """Every test starts from torch's seed 0, so its unseeded draws (``torch.randn`` inputs) are
    the same in every run and in every order the tests run in."""
    torch.manual_seed(0)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in ``tmp_path``: RecBole's init_logger writes ./log, its trainer ./log_tensorboard."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def tiny_data(tmp_path):
    """The ``tiny`` dataset under ``tmp_path``; returns ``tmp_path`` (RecBole's ``data_path``)."""
    write_tiny_dataset(tmp_path)
    return tmp_path


@pytest.fixture
def tiny_config_dict(tiny_data, in_tmp):
    """Base ``config_dict`` for ``Config(model=..., dataset="tiny", config_dict=...)``."""
    return {
        "data_path": str(tiny_data),
        "epochs": 2,
        "eval_step": 1,
        "train_batch_size": 256,
        "show_progress": False,
        "checkpoint_dir": str(tiny_data / "saved"),
        "log_wandb": False,
        "state": "WARNING",
        "use_gpu": False,
        "seed": 2020,
        "reproducibility": True,
    }


@pytest.fixture
def small_model_dict(tiny_config_dict):
    """``tiny_config_dict`` plus a small GCNPruneGAN (width 8, 2 layers)."""
    # prune_criterion none: train the dense model only, whatever trainer GCNPruneGAN gets.
    return {**tiny_config_dict, "embedding_size": 8, "n_layers": 2, "transform_size": 4,
            "prune_criterion": "none"}


def _make_config(model, config_dict, dataset="tiny", config_file_list=None):
    from recbole_gcnprune.config import Config

    return Config(model=model, dataset=dataset, config_file_list=config_file_list,
                  config_dict=dict(config_dict))


def _make_data(config):
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import init_seed

    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    return dataset, data_preparation(config, dataset)


@pytest.fixture
def recbole_save_checkpoint():
    """RecBole's original ``Trainer._save_checkpoint`` (pickles the Config object)."""
    if RECBOLE_SAVE_CHECKPOINT.__module__ != "recbole.trainer.trainer":
        pytest.skip("Trainer._save_checkpoint was already replaced when conftest was imported")
    return RECBOLE_SAVE_CHECKPOINT


@pytest.fixture
def write_dataset():
    """``write_dataset(root, name="tiny", ..., rows=None)``: see :func:`write_tiny_dataset`."""
    return write_tiny_dataset


@pytest.fixture
def make_config():
    """``make_config(model, config_dict, dataset="tiny", config_file_list=None)`` -> our Config."""
    return _make_config


@pytest.fixture
def make_data():
    """``make_data(config)`` -> RecBole's ``(dataset, (train, valid, test))``, seeded."""
    return _make_data


@pytest.fixture
def tiny_gcn(small_model_dict):
    """``(config, dataset, (train, valid, test), model)`` for GCNPruneGAN on the tiny data."""
    from recbole.utils import init_seed

    from recbole_gcnprune.model import GCNPruneGAN

    config = _make_config("GCNPruneGAN", small_model_dict)
    dataset, loaders = _make_data(config)
    init_seed(config["seed"], config["reproducibility"])
    model = GCNPruneGAN(config, loaders[0]._dataset)
    return config, dataset, loaders, model


@pytest.fixture
def linear_gcn(make_config, make_data, small_model_dict):
    """GCNPruneGAN (width 8, 2 layers, bottlenecks of 4) with every weight non-zero."""
    from recbole_gcnprune.model import GCNPruneGAN

    config = make_config("GCNPruneGAN", {**small_model_dict, "layer_transform": "linear"})
    _, (train, _, _) = make_data(config)
    torch.manual_seed(0)
    model = GCNPruneGAN(config, train._dataset)
    with torch.no_grad():
        for transform in model.transforms:
            transform.up.weight.normal_(0, 0.3)
            transform.up.bias.normal_(0, 0.1)
    return model.eval()


def all_scores(model):
    """Full-sort scores of every real user (RecBole's id 0 is padding) against every item."""
    users = Interaction({model.USER_ID: torch.arange(1, model.n_users)})
    with torch.no_grad():
        return model.full_sort_predict(users).view(model.n_users - 1, -1)


@pytest.fixture
def prune_dict(small_model_dict):
    return {**small_model_dict, "prune_criterion": "gan", "prune_ratio": 0.5,
            "layer_transform": "linear", "search_epochs": 1, "taylor_batches": 2,
            "prune_allocation": "uniform"}
