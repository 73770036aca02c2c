"""recbole_gcnprune.measure: parameter count, checkpoint bytes, full-sort timing, Stopwatch."""

import io
import sys
import time
from types import SimpleNamespace

import torch
from torch import nn

from recbole_gcnprune.measure import (
    Stopwatch,
    benchmark_users,
    evaluation_batch_users,
    count_parameters,
    full_sort_ms_per_1000_users,
    state_dict_bytes,
)

FAKE_DATA = SimpleNamespace(uid_field="user_id", iid_field="item_id", user_num=11, item_num=7)


class CachingScorer(nn.Module):
    """LightGCN-like: full-sort scores come from embeddings cached in ``restore_user_e``."""

    def __init__(self, n_users=11, n_items=7, dim=4):
        super().__init__()
        self.user = nn.Embedding(n_users, dim)
        self.item = nn.Embedding(n_items, dim)
        self.register_buffer("counts", torch.ones(n_items))
        self.restore_user_e = self.restore_item_e = None
        self.forward_calls = 0
        self.scored_users = []

    def forward(self):
        self.forward_calls += 1
        return self.user.weight * 1.0, self.item.weight * 1.0

    def full_sort_predict(self, interaction):
        if self.restore_user_e is None:
            self.restore_user_e, self.restore_item_e = self.forward()
        users = interaction["user_id"]
        self.scored_users.append(users.clone())
        return (self.restore_user_e[users] @ self.restore_item_e.T).view(-1)


class PairScorer(CachingScorer):
    """NeuMF-like: no full sort, only ``predict`` on (user, item) pairs."""

    def full_sort_predict(self, interaction):
        raise NotImplementedError

    def predict(self, interaction):
        self.scored_users.append(interaction["user_id"].clone())
        return (self.user(interaction["user_id"]) * self.item(interaction["item_id"])).sum(-1)


def test_count_parameters_counts_parameters_once_and_no_buffers():
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    model.register_buffer("big", torch.zeros(1000))
    assert count_parameters(model) == 3 * 2 + 2 + 2 * 1 + 1
    tied = nn.Module()
    tied.a = nn.Linear(4, 4, bias=False)
    tied.b = tied.a
    assert count_parameters(tied) == 16


def test_state_dict_bytes_is_the_saved_size():
    model = nn.Linear(100, 10)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    assert state_dict_bytes(model) == len(buffer.getvalue())
    assert state_dict_bytes(model) > 1010 * 4
    assert state_dict_bytes(nn.Linear(200, 10)) > state_dict_bytes(model)


def test_stopwatch_times_a_block(monkeypatch):
    ticks = iter([10.0, 10.25])
    monkeypatch.setattr(time, "perf_counter", lambda: next(ticks))
    with Stopwatch("cpu") as clock:
        pass
    assert clock.seconds == 0.25


def test_benchmark_users_skips_padding_and_cycles():
    users = benchmark_users(FAKE_DATA)
    assert len(users) == 1000
    assert set(users.tolist()) == set(range(1, 11))


def test_full_sort_timing_recomputes_the_propagation_every_repeat():
    model = CachingScorer()
    model.train()
    ms = full_sort_ms_per_1000_users(model, FAKE_DATA, "cpu", repeats=3, batch_size=300)
    assert ms > 0
    # one probe, one warm-up, three timed repeats: each drops the cache and propagates again
    assert model.forward_calls == 5
    last_repeat = torch.cat(model.scored_users[-4:])  # 1000 users in batches of 300
    assert len(last_repeat) == 1000 and 0 not in last_repeat.tolist()
    assert model.training and model.restore_user_e is None


def test_full_sort_timing_falls_back_to_pairs():
    model = PairScorer()
    ms = full_sort_ms_per_1000_users(model, FAKE_DATA, "cpu", repeats=2)
    assert ms > 0
    pairs_per_run = sum(len(u) for u in model.scored_users[-1:])
    assert pairs_per_run == 1000 * FAKE_DATA.item_num  # one batch holds every pair here


def _tiny_atomic_dataset(root, n_users=30, n_items=25, per_user=8):
    folder = root / "tiny"
    folder.mkdir()
    gen = torch.Generator().manual_seed(0)
    lines, t = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"], 0
    for u in range(n_users):
        for i in torch.randperm(n_items, generator=gen)[:per_user].tolist():
            t += 1
            lines.append(f"u{u}\ti{i}\t{1 + t % 5}.0\t{t}.0")
    (folder / "tiny.inter").write_text("\n".join(lines) + "\n")


def test_full_sort_timing_on_a_recbole_model(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["pytest"])
    monkeypatch.chdir(tmp_path)
    from recbole_gcnprune.config import Config
    from recbole_gcnprune.quick_start import build_model, load_data

    _tiny_atomic_dataset(tmp_path)
    config = Config("GCNPruneGAN", "tiny", None, {
        "data_path": str(tmp_path), "use_gpu": False, "embedding_size": 8, "n_layers": 2,
        "prune_criterion": "none", "state": "WARNING",
    })
    dataset, (_, _, test_data) = load_data(config)
    model = build_model(config, test_data)
    assert not (tmp_path / "log_tensorboard").exists()  # no trainer, so no writer left open
    assert count_parameters(model) == (dataset.user_num + dataset.item_num) * 8
    assert state_dict_bytes(model) > count_parameters(model) * 4
    for source in (dataset, test_data):
        assert full_sort_ms_per_1000_users(model, source, config["device"], repeats=2) > 0
    assert model.restore_user_e is None
    # the evaluator's batches: eval_batch_size // n_items users (RecBole's full-sort loader)
    assert evaluation_batch_users(test_data) == test_data.step == max(
        1, config["eval_batch_size"] // dataset.item_num)
    assert evaluation_batch_users(dataset) == 256
