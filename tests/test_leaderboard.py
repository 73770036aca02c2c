"""The leaderboard on a tiny generated dataset: files, columns, mean ± std, resume, interruption,
failed rows, the plot, the command line and the Ray path (a local single-CPU instance)."""

import json
import os
import random
import shutil
import statistics
import sys
from types import SimpleNamespace

import matplotlib.image
import pandas as pd
import pytest

from recbole_gcnprune.cli import main
from recbole_gcnprune.errors import UserInputError
from recbole_gcnprune.leaderboard import row as row_module
from recbole_gcnprune.leaderboard import store as store_module
from recbole_gcnprune.leaderboard.ray_backend import _init
from recbole_gcnprune.leaderboard.runner import make_settings, run_leaderboard
from recbole_gcnprune.leaderboard.spec import (
    parse_model_spec,
    parse_models,
    parse_overrides,
    parse_seeds,
    row_id,
)
from recbole_gcnprune.leaderboard.plot import write_plot
from recbole_gcnprune.leaderboard.summary import METRICS, summarize

MODELS = "Pop,BPR,GCNPruneGAN[prune_ratio=0.5]"
SEEDS = (2020, 2021)
SHARED = ("--epochs=1", "--search_epochs=1", "--embedding_size=8", "--use_gpu=False")


def write_tiny(root, n_users=60, n_items=50, per_user=10):
    """``root/tiny/tiny.inter``: 60 users x 10 distinct items of 50 (600 rows), tab-separated."""
    folder = root / "tiny"
    folder.mkdir(parents=True, exist_ok=True)
    rng, t = random.Random(0), 0
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for u in range(n_users):
        for i in rng.sample(range(n_items), per_user):
            t += 1
            lines.append(f"u{u}\ti{i}\t{1 + t % 5}.0\t{t}.0")
    (folder / "tiny.inter").write_text("\n".join(lines) + "\n")
    return root


def shared_overrides(data_path):
    return parse_overrides([*SHARED, f"--data_path={data_path}"])


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def rows_in(output):
    return sorted(os.listdir(os.path.join(output, "rows")))


def load_row(output, label, seed):
    with open(os.path.join(output, "rows", row_id(label, seed) + ".json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["pytest"])
    monkeypatch.chdir(tmp_path)
    return write_tiny(tmp_path)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The command run once: 3 models x 2 seeds, 1 epoch; returns (output, exit status)."""
    root = write_tiny(tmp_path_factory.mktemp("leaderboard"))
    output = str(root / "out")
    argv = ["--leaderboard", "--dataset=tiny", "--models", MODELS,
            "--seeds", ",".join(map(str, SEEDS)), "--output", output,
            *SHARED, f"--data_path={root}"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["pytest"])
        mp.chdir(root)
        status = main(argv)
    return output, status, root


def test_model_specs_parse_to_canonical_labels():
    specs = parse_models("Pop, GCNPruneGAN[prune_ratio=0.75,prune_criterion=magnitude],"
                         "NGCF[hidden_size_list=[32,32]],Pop")
    assert [s.label for s in specs] == [
        "Pop", "GCNPruneGAN[prune_criterion=magnitude,prune_ratio=0.75]",
        "NGCF[hidden_size_list=[32,32]]"]
    assert specs[2].config_dict() == {"hidden_size_list": [32, 32]}
    assert parse_seeds("2020, 2021,2020") == [2020, 2021]
    assert parse_overrides(["--epochs=2", "--learner=adam", "--x=true"]) == {
        "epochs": 2, "learner": "adam", "x": True}
    for bad in (lambda: parse_model_spec("GCN[prune_ratio]"), lambda: parse_models("A[x=1"),
                lambda: parse_seeds("20x"), lambda: parse_overrides(["--seed=1"]),
                lambda: parse_overrides(["--epochs", "2"]), lambda: parse_model_spec("B[seed=1]")):
        with pytest.raises(UserInputError):
            bad()


def test_files_and_rows_are_written(finished):
    output, status, _ = finished
    assert status == 0
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.png"):
        assert os.path.getsize(os.path.join(output, name)) > 0
    assert len(rows_in(output)) == 6 and all(f.endswith(".json") for f in rows_in(output))
    assert len(os.listdir(os.path.join(output, "logs"))) == 6
    assert not os.listdir(os.path.join(output, "checkpoints", "rows"))  # own checkpoints removed


def test_csv_columns_and_mean_std_over_seeds(finished):
    output = finished[0]
    table = pd.read_csv(os.path.join(output, "leaderboard.csv"))
    assert list(table["model"]) == ["Pop", "BPR", "GCNPruneGAN[prune_ratio=0.5]"]
    assert list(table["n_seeds"]) == [2, 2, 2]
    for column in ("parameters", "checkpoint_bytes", "full_sort_ms_per_1000_users",
                   "train_seconds", *METRICS):
        assert {f"{column}_mean", f"{column}_std"} <= set(table.columns)
    bpr = [load_row(output, "BPR", seed)["test_result"]["ndcg@20"] for seed in SEEDS]
    line = table[table["model"] == "BPR"].iloc[0]
    assert line["ndcg@20_mean"] == pytest.approx(statistics.mean(bpr))
    assert line["ndcg@20_std"] == pytest.approx(statistics.stdev(bpr))
    pruned = table[table["model"].str.startswith("GCNPruneGAN")].iloc[0]
    assert pruned["prune_criterion"] == "gan" and pruned["prune_ratio"] == 0.5
    assert pruned["parameters_mean"] < line["parameters_mean"]  # half the channels of BPR's width


def test_markdown_header_and_table(finished):
    output = finished[0]
    text = read(os.path.join(output, "leaderboard.md"))
    for needle in ("--leaderboard", "--models", "Date:", "python ", "torch ", "recbole 1.2.1",
                   "torch-pruning ", "numpy ", "Seeds: 2020, 2021", "Dataset: tiny",
                   "eval_args", "'RS': [0.8, 0.1, 0.1]", "valid_metric: `NDCG@20`",
                   ("| Model | Seeds | Recall@10 | Recall@20 | NDCG@10 | NDCG@20 | Precision@20 "
                    "| F1@20 | Hit@20 | MRR@20 | Params |"), "| BPR | 2 | ", " ± ",
                   "(leaderboard.png)"):
        assert needle in text, needle


def test_plot_is_a_png(finished):
    path = os.path.join(finished[0], "leaderboard.png")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(path).ndim == 3


def _stored_row(label, ratio, ndcg, config=None):
    row = {"label": label, "model": "GCNPruneGAN", "seed": 2020, "prune_criterion": "gan",
           "prune_ratio": ratio, "test_result": {"ndcg@20": ndcg}, "parameters": 100 * ratio}
    if config is not None:
        row["config"] = config
    return row


def test_each_backbone_loss_and_schedule_gets_its_own_pruning_curve(tmp_path):
    users = {"ranking_loss": "ccl", "ccl_item_norm": False}
    rows = [_stored_row("old", 0.5, 0.30),  # stored before ranking_loss existed
            _stored_row("bpr", 0.75, 0.28, {"ranking_loss": "bpr", "finetune_eval_step": None}),
            _stored_row("ccl", 0.75, 0.31, {"ranking_loss": "ccl", "ccl_item_norm": True}),
            _stored_row("users", 0.75, 0.32, users),
            _stored_row("users-ft1", 0.75, 0.33, {**users, "finetune_eval_step": 1}),
            _stored_row("users-lr", 0.75, 0.33, {**users, "finetune_eval_step": 1,
                                                 "finetune_learning_rate": 0.001,
                                                 "search_learning_rate": 5e-4}),
            _stored_row("users-delta", 0.75, 0.33, {**users, "finetune_stopping_delta": 5e-4}),
            _stored_row("users-delta0", 0.75, 0.33, {**users, "finetune_stopping_delta": 0}),
            {**_stored_row("magnitude-lr", 0.75, 0.33, {**users, "search_learning_rate": 5e-4}),
             "prune_criterion": "magnitude"},  # no search: the search rate does not act
            {**_stored_row("dense-ft1", 1.0, 0.34, {**users, "finetune_eval_step": 1}),
             "prune_criterion": "none"}]  # no fine-tuning: the schedule does not act
    summary = summarize(rows, ["old", "bpr", "ccl", "users", "users-ft1", "users-lr",
                               "users-delta", "users-delta0", "magnitude-lr", "dense-ft1"])
    assert list(summary["variant"]) == ["bpr", "bpr", "ccl", "ccl-usernorm",
                                        "ccl-usernorm, ft-eval 1",
                                        "ccl-usernorm, ft-eval 1, ft-lr 0.001, search-lr 0.0005",
                                        "ccl-usernorm, ft-delta 0.0005", "ccl-usernorm",
                                        "ccl-usernorm", "ccl-usernorm"]
    path = str(tmp_path / "plot.png")
    assert write_plot(path, summary, "two curves")
    assert matplotlib.image.imread(path).ndim == 3


def count_calls(monkeypatch):
    calls = []
    original = row_module.execute_row

    def counting(task, log_path=None):
        calls.append((task["label"], task["seed"]))
        return original(task, log_path)

    monkeypatch.setattr(row_module, "execute_row", counting)
    return calls


def test_each_row_closes_its_tensorboard_writer(tiny, monkeypatch):
    from recbole_gcnprune import quick_start

    trainers, build = [], quick_start.build_model_and_trainer

    def recording(config, train_data, trainer_class=None):
        model, trainer = build(config, train_data, trainer_class)
        trainers.append(trainer)
        return model, trainer

    monkeypatch.setattr(quick_start, "build_model_and_trainer", recording)  # model_and_trainer's
    run_leaderboard(parse_models("Pop,BPR"), [2020], make_settings("tiny", shared_overrides(tiny)),
                    str(tiny / "out"), progress=lambda _: None)
    assert len(trainers) == 2
    assert all(t.tensorboard.all_writers is None for t in trainers)  # what close() leaves


def test_rerun_skips_finished_rows(finished, tmp_path, monkeypatch):
    output = str(tmp_path / "out")
    shutil.copytree(finished[0], output)
    monkeypatch.chdir(tmp_path)
    calls = count_calls(monkeypatch)
    specs, settings = parse_models(MODELS), make_settings("tiny", shared_overrides(finished[2]))
    run_leaderboard(specs, SEEDS, settings, output, progress=lambda _: None)
    assert calls == []
    run_leaderboard(specs[:1], (*SEEDS, 2022), settings, output, progress=lambda _: None)
    assert calls == [("Pop", 2022)]
    other = make_settings("tiny", {**shared_overrides(finished[2]), "epochs": 2})
    with pytest.raises(UserInputError, match="other settings"):
        run_leaderboard(specs, SEEDS, other, output, progress=lambda _: None)


def test_ctrl_c_loses_only_the_running_row(tiny, monkeypatch):
    output = str(tiny / "out")
    original = row_module.execute_row

    def interrupted_second(task, log_path=None):
        if task["seed"] == SEEDS[1]:
            raise KeyboardInterrupt
        return original(task, log_path)

    monkeypatch.setattr(row_module, "execute_row", interrupted_second)
    settings = make_settings("tiny", shared_overrides(tiny))
    with pytest.raises(KeyboardInterrupt):
        run_leaderboard(parse_models("Pop"), SEEDS, settings, output, progress=lambda _: None)
    assert len(rows_in(output)) == 1
    monkeypatch.setattr(row_module, "execute_row", original)
    calls = count_calls(monkeypatch)
    result = run_leaderboard(parse_models("Pop"), SEEDS, settings, output, progress=lambda _: None)
    assert calls == [("Pop", SEEDS[1])] and len(result["rows"]) == 2


def test_an_interrupted_write_leaves_no_partial_file(tiny, monkeypatch):
    real_replace = os.replace

    def replace(src, dst):
        if dst.endswith(".json"):
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(store_module.os, "replace", replace)
    settings = make_settings("tiny", shared_overrides(tiny))
    with pytest.raises(KeyboardInterrupt):
        run_leaderboard(parse_models("Pop"), SEEDS[:1], settings, str(tiny / "out"),
                        progress=lambda _: None)
    assert rows_in(str(tiny / "out")) == []  # neither the row nor its temp file


def test_failed_row_is_reported_and_retried(tiny, monkeypatch):
    def boom(task):
        raise RuntimeError("boom")

    original = row_module._train_and_measure
    monkeypatch.setattr(row_module, "_train_and_measure", boom)
    output = str(tiny / "out")
    settings = make_settings("tiny", shared_overrides(tiny))
    result = run_leaderboard(parse_models("Pop"), SEEDS[:1], settings, output,
                             progress=lambda _: None)
    assert [f["error"] for f in result["failures"]] == ["RuntimeError: boom"]
    assert not os.path.exists(os.path.join(output, "rows"))
    text = read(os.path.join(output, "leaderboard.md"))
    assert "## Failed rows" in text and "RuntimeError: boom" in text
    assert "RuntimeError: boom" in read(result["failures"][0]["log"])
    monkeypatch.setattr(row_module, "_train_and_measure", original)
    result = run_leaderboard(parse_models("Pop"), SEEDS[:1], settings, output,
                             progress=lambda _: None)
    assert result["failures"] == [] and len(rows_in(output)) == 1
    assert "## Failed rows" not in read(os.path.join(output, "leaderboard.md"))


def test_unknown_model_fails_before_any_row(tiny, capsys):
    status = main(["--leaderboard", "--dataset=tiny", f"--data_path={tiny}", "--models",
                   "Pop,LightGNC", "--seeds", "2020", "--output", str(tiny / "out")])
    assert status == 2
    assert "did you mean LightGCN" in capsys.readouterr().err
    assert not os.path.exists(tiny / "out" / "rows")


def test_ray_init_only_starts_what_it_owns():
    calls = []
    fake = SimpleNamespace(is_initialized=lambda: False, init=lambda **kw: calls.append(kw))
    assert _init(fake, "local", {"num_cpus": 1})
    assert calls == [{"address": "local", "num_cpus": 1, "include_dashboard": False}]
    assert _init(SimpleNamespace(is_initialized=lambda: True), "auto", None) is False


def test_ray_path_on_a_local_instance(tiny, finished):
    ray = pytest.importorskip("ray")
    try:
        ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    except Exception as err:  # noqa: BLE001 - any start-up failure means: no Ray here
        pytest.skip(f"a local Ray instance cannot start here: {type(err).__name__}: {err}")
    output = str(tiny / "out")
    settings = make_settings("tiny", shared_overrides(finished[2]))
    try:
        result = run_leaderboard(parse_models("Pop,BPR"), SEEDS[:1], settings, output,
                                 ray_address="local", progress=lambda _: None)
    finally:
        ray.shutdown()
    assert result["failures"] == [] and len(rows_in(output)) == 2
    assert len(os.listdir(os.path.join(output, "logs"))) == 2  # logs came back from the tasks
    local, remote = load_row(finished[0], "Pop", SEEDS[0]), load_row(output, "Pop", SEEDS[0])
    assert remote["test_result"] == local["test_result"]  # same split and config in the worker
    assert os.path.getsize(os.path.join(output, "leaderboard.png")) > 0


def test_render_only_runs_nothing_and_lists_missing_rows(finished, tmp_path, monkeypatch):
    output = str(tmp_path / "out")
    shutil.copytree(finished[0], output)
    monkeypatch.chdir(finished[2])
    calls = count_calls(monkeypatch)
    argv = ["--leaderboard", "--dataset=tiny", "--models", MODELS + ",BPR[embedding_size=4]",
            "--seeds", ",".join(map(str, SEEDS)), "--output", output, "--render-only",
            *SHARED, f"--data_path={finished[2]}"]
    assert main(argv) == 0
    assert calls == []
    markdown = open(os.path.join(output, "leaderboard.md")).read()
    assert "## Rows not run yet" in markdown and "BPR[embedding_size=4] seed" in markdown
    assert "--render-only" not in markdown
