"""The leaderboard on a tiny generated dataset: files, columns, mean ± std, resume, interruption,
failed rows, the plot, the command line and the Ray path (a local single-CPU instance); rows
stored without absolute paths, the header, the plot's layout and the tables without matplotlib."""

import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
from types import SimpleNamespace

import pandas as pd
import pytest

from recbole_gcnprune.cli import main
from recbole_gcnprune.errors import UserInputError
from recbole_gcnprune.leaderboard import render as render_module
from recbole_gcnprune.leaderboard import row as row_module
from recbole_gcnprune.leaderboard.row import row_code_version
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
from recbole_gcnprune.leaderboard.summary import METRICS, summarize
from recbole_gcnprune.version import code_version

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


def image_dimensions(path):
    """The number of dimensions of the image at ``path`` (3: rows, columns, channels)."""
    image = pytest.importorskip("matplotlib.image")
    return image.imread(path).ndim


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
    assert image_dimensions(path) == 3


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
    write_plot = pytest.importorskip("recbole_gcnprune.leaderboard.plot").write_plot
    path = str(tmp_path / "plot.png")
    assert write_plot(path, summary, "two curves")
    assert image_dimensions(path) == 3


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
    assert "(log: logs/Pop-seed2020-" in text  # named relative to the output folder
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


def test_a_row_made_by_other_code_is_run_again_but_still_rendered(finished, tmp_path,
                                                                  monkeypatch):
    from recbole_gcnprune.leaderboard import runner

    output = str(tmp_path / "out")
    shutil.copytree(finished[0], output)
    monkeypatch.chdir(tmp_path)
    calls = count_calls(monkeypatch)
    specs, settings = parse_models(MODELS), make_settings("tiny", shared_overrides(finished[2]))
    plugin_changed = {"GCNPruneGAN": "other-code"}  # pruning code changed, RecBole's rows not
    monkeypatch.setattr(runner, "row_code_version",
                        lambda model: plugin_changed.get(model, row_code_version(model)))
    rendered = run_leaderboard(specs, SEEDS, settings, output, progress=lambda _: None,
                               render_only=True)
    assert calls == [] and len(rendered["rows"]) == len(specs) * len(SEEDS)
    run_leaderboard(specs, SEEDS[:1], settings, output, progress=lambda _: None)
    assert calls == [(specs[2].label, SEEDS[0])]


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


def _absolute_strings(value):
    if isinstance(value, dict):
        return [s for item in value.values() for s in _absolute_strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _absolute_strings(item)]
    return [value] if isinstance(value, str) and os.path.isabs(value) else []


def test_rows_are_stored_with_paths_relative_to_the_output_folder(finished):
    output, _, root = finished
    path = os.path.join(output, "rows", row_id("GCNPruneGAN[prune_ratio=0.5]", SEEDS[0]) + ".json")
    stored = json.loads(read(path))
    assert _absolute_strings({**stored, "relative_paths": None}) == []  # (pointers start with /)
    assert stored["checkpoint_dir"] == "checkpoints"
    # the data folder, above out/: named, so a copied folder still knows which one it was
    assert stored["settings"]["overrides"]["data_path"] == "../../" + os.path.basename(root)
    assert {"/checkpoint_dir", "/config/checkpoint_dir", "/report/run_dir"} <= set(
        stored["relative_paths"])
    row = store_module.read_row(path)  # resolved against the folder it is read from
    assert "relative_paths" not in row
    assert row["checkpoint_dir"] == os.path.join(os.path.abspath(output), "checkpoints")
    assert row["settings"]["overrides"]["data_path"] == os.path.abspath(root)
    assert os.path.isdir(row["report"]["run_dir"])
    assert store_module.resolve_row(stored, output) == row
    assert store_module.portable_row(row, output) == stored


def test_rows_written_before_relative_paths_read_back_unchanged(tmp_path):
    legacy = {"label": "Pop", "seed": 1, "checkpoint_dir": str(tmp_path / "elsewhere")}
    folder = tmp_path / "out" / "rows"
    folder.mkdir(parents=True)
    (folder / "Pop.json").write_text(json.dumps(legacy))
    assert store_module.read_row(str(folder / "Pop.json")) == legacy


def _meta(command="python run_recbole_prune.py --leaderboard", config_files=()):
    return {"command": command, "seeds": [2020],
            "settings": {"dataset": "tiny", "overrides": {}, "config_files": list(config_files),
                         "split_seed": 2020},
            "versions": {"python": "3.11"}}


def test_header_names_the_code_version_of_the_rows():
    before = render_module.header(_meta(), [{"label": "Pop"}])
    assert "- Code version: rows made before code versions were recorded" in before
    same = render_module.header(_meta(), [{"code_version": "0.1.0 @ abc1234"}] * 2)
    assert "- Code version: `0.1.0 @ abc1234`" in same
    mixed = render_module.header(_meta(), [{"code_version": {"commit": "abc1234", "dirty": True}},
                                           {"code_version": "def5678"}, {}])
    line = next(text for text in mixed if text.startswith("- Code versions:"))
    assert "`abc1234 (with uncommitted changes)` (1 rows)" in line and "`def5678`" in line
    assert "1 rows made before code versions were recorded" in line


def test_header_writes_absolute_paths_relative_to_the_output_folder(tmp_path):
    output = tmp_path / "results" / "board"
    command = ("python run_recbole_prune.py --leaderboard --output " + str(output)
               + " --data_path=" + str(tmp_path / "data"))
    lines = render_module.header(_meta(command, [str(tmp_path / "a.yaml")]), [], str(output))
    text = "\n".join(lines)
    assert str(tmp_path) not in text
    assert "--output ../board --data_path=../../data`" in text and "relative to this folder" in text
    assert "- Config files: ../../a.yaml" in text


def _summary_row(label, model, params, ndcg, seed=2020, **extra):
    return {"label": label, "model": model, "seed": seed, "parameters": params,
            "test_result": {"ndcg@20": ndcg}, **extra}


def _plot_rows():
    rows = []
    for seed, noise in ((2020, 0.0), (2021, 0.002)):
        rows += [_summary_row("Pop", "Pop", 1, 0.12 + noise, seed),
                 _summary_row("BPR", "BPR", 168128, 0.31 + noise, seed),
                 _summary_row("LightGCN", "LightGCN", 168128, 0.32 + noise, seed),
                 _summary_row("NeuMF", "NeuMF", 361153, 0.29 + noise, seed),
                 _summary_row("dense", "GCNPruneGAN", 168128, 0.325 + noise, seed,
                              prune_criterion="none")]
        for criterion in ("gan", "magnitude", "taylor", "random", "train_small",
                          "distill_small", "extra_one", "extra_two"):
            for ratio in (0.5, 0.75, 0.9):
                rows.append(_summary_row(f"{criterion}-{ratio}", "GCNPruneGAN",
                                         168128 * (1 - ratio), 0.3 - ratio / 10 + noise, seed,
                                         prune_criterion=criterion, prune_ratio=ratio))
        rows.append(_summary_row("ccl-0.75", "GCNPruneGAN", 42032, 0.2, seed,
                                 prune_criterion="gan", prune_ratio=0.75,
                                 config={"ranking_loss": "ccl"}))
    return rows


def test_the_plot_keeps_its_legend_short_and_its_axes_on_the_data():
    plot = pytest.importorskip("recbole_gcnprune.leaderboard.plot")
    rows = _plot_rows()
    summary = summarize(rows, list(dict.fromkeys(row["label"] for row in rows)))
    figure = plot.draw(summary, "tiny")
    ax = figure.axes[0]
    entries = [text.get_text() for legend in figure.legends for text in legend.get_texts()]
    assert 3 <= len(entries) <= plot.MAX_LEGEND
    assert entries[0].startswith("GCNPruneGAN dense") and "RecBole models" in entries
    left, right = ax.get_xlim()
    sizes = [168128 * (1 - r) for r in (0.5, 0.75, 0.9)] + [168128, 361153]
    assert left < min(sizes) and right > max(sizes)
    assert left > 1000  # Pop (1 parameter) sits at the edge, not at the end of a long axis
    assert math.log10(right / left) < 1.5 * math.log10(max(sizes) / min(sizes)) + 0.1
    bottom, top = ax.get_ylim()
    assert bottom < 0.3 - 0.09 and top > 0.325 and bottom > 0.15  # Pop's 0.12 is left out
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith("Pop (1 parameter") for t in texts)
    assert {"BPR", "LightGCN", "NeuMF"} <= set(texts)
    notes = " ".join(t.get_text() for t in figure.texts)
    assert "variant bpr" in notes and "in the table only" in notes


def test_the_plot_labels_do_not_overlap():
    plot = pytest.importorskip("recbole_gcnprune.leaderboard.plot")
    rows = [_summary_row(name, name, 168128 + i, 0.31 + i * 1e-4)
            for i, name in enumerate(("BPR", "LightGCN", "SGL", "SimpleX", "NGCF"))]
    figure = plot.draw(summarize(rows, [row["label"] for row in rows]), "crowded")
    renderer = figure.canvas.get_renderer()
    boxes = [text.get_window_extent(renderer) for text in figure.axes[0].texts]
    assert len(boxes) == 5
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_without_matplotlib_the_tables_are_written_and_one_line_says_so(tmp_path, monkeypatch,
                                                                        capsys):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg",
                 "matplotlib.ticker", "matplotlib.transforms"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if not installed
    monkeypatch.delitem(sys.modules, "recbole_gcnprune.leaderboard.plot", raising=False)
    monkeypatch.setattr(render_module, "_plot_note_shown", False)
    rows = [_summary_row("BPR", "BPR", 100, 0.3)]
    for _ in range(2):
        _, paths = render_module.render_leaderboard(str(tmp_path), rows, ["BPR"], _meta())
    assert set(paths) == {"csv", "md"} and not (tmp_path / "leaderboard.png").exists()
    assert "| BPR | 1 |" in read(paths["md"]) and "leaderboard.png" not in read(paths["md"])
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ['note: the leaderboard plot needs matplotlib: '
                   'pip install -e ".[leaderboard]"; the tables are written without it']


def test_the_leaderboard_command_does_not_import_the_cli():
    code = ("import sys, recbole_gcnprune.leaderboard.command; "
            "assert 'recbole_gcnprune.cli' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_only_plugin_rows_carry_the_plugin_models_code_version():
    assert row_code_version("GCNPruneGAN") == code_version()
    assert row_code_version("BPR") == code_version(plugin_model=False) != code_version()
