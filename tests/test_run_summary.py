"""The main job's closing summary: the dense teacher beside the pruned model."""

import os
import sys

import pytest
from conftest import write_tiny_dataset

from recbole_gcnprune import quick_start
from recbole_gcnprune.cli import print_result
from recbole_gcnprune.run_summary import summary_lines


def _run_in(root, config_dict):
    """``run_recbole_prune`` on the tiny data in ``root`` (RecBole writes ./log there)."""
    cwd, argv = os.getcwd(), sys.argv
    os.chdir(root)
    sys.argv = ["pytest"]  # RecBole's Config parses sys.argv
    try:
        return quick_start.run_recbole_prune("GCNPruneGAN", "tiny", config_dict=config_dict)
    finally:
        os.chdir(cwd)
        sys.argv = argv


@pytest.fixture(scope="module")
def pruned_run(tmp_path_factory):
    """One tiny gan run (module-scoped: it trains), with its root and config_dict."""
    root = tmp_path_factory.mktemp("summary")
    write_tiny_dataset(root)
    config_dict = {
        "data_path": str(root), "epochs": 2, "eval_step": 1, "train_batch_size": 256,
        "checkpoint_dir": str(root / "saved"), "state": "WARNING", "use_gpu": False,
        "seed": 2020, "embedding_size": 8, "n_layers": 1, "prune_ratio": 0.5,
        "search_epochs": 1, "log_wandb": False,
    }
    return {**_run_in(root, config_dict), "root": root, "config_dict": config_dict}


def test_the_summary_sets_the_teacher_beside_the_pruned_model(pruned_run):
    summary = pruned_run["summary"]
    assert summary["test"]["pruned"]["ndcg@20"] == pytest.approx(
        pruned_run["test_result"]["ndcg@20"])
    report = pruned_run["report"]
    assert summary["parameters"] == [report["dense"]["parameters"],
                                     report["pruned"]["parameters"]]
    assert summary["parameters"][1] < summary["parameters"][0]
    assert all(ms > 0 for ms in summary["full_sort_ms_per_1000_users"])
    assert os.path.basename(summary["checkpoint"]) == "finetune.pth"
    assert summary["seconds"]["teacher"] > 0 and summary["seconds"]["finetune"] > 0


def test_the_teachers_score_is_a_dense_runs_test_score(pruned_run):
    """The dense line is what a dense run (``prune_criterion: none``) of the same settings
    reports on the test set for the cached teacher."""
    dense = _run_in(pruned_run["root"], {**pruned_run["config_dict"], "prune_criterion": "none"})
    assert dense["report"]["teacher"]["cached"]
    assert pruned_run["summary"]["test"]["dense"]["ndcg@20"] == pytest.approx(
        dense["test_result"]["ndcg@20"])


def test_the_command_line_prints_the_summary(pruned_run, capsys):
    print_result(pruned_run)
    out = capsys.readouterr().out
    for start in ("NDCG@20", "RECALL@20", "parameters", "checkpoint", "full sort", "time",
                  "pruned checkpoint:"):
        assert any(line.strip().startswith(start) for line in out.splitlines()), start
    assert "of dense" in out and "x faster" in out


def test_summary_lines_state_shares_and_speed_up():
    summary = {
        "test": {"dense": {"ndcg@20": 0.2, "recall@20": 0.4},
                 "pruned": {"ndcg@20": 0.19, "recall@20": 0.42}},
        "parameters": [1000, 250], "checkpoint_bytes": [8000, 2000],
        "full_sort_ms_per_1000_users": [30.0, 10.0],
        "seconds": {"teacher": 12.0, "teacher_cached": True, "selection": 3.0,
                    "finetune": 5.0},
        "checkpoint": os.path.join("saved", "finetune.pth"),
    }
    lines = summary_lines(summary)
    assert lines[0] == "NDCG@20    dense 0.2000 -> pruned 0.1900 (95.0% of dense)"
    assert lines[1] == "RECALL@20  dense 0.4000 -> pruned 0.4200 (105.0% of dense)"
    assert lines[2] == "parameters 1,000 -> 250 (25.0%)"
    assert "3.00x faster" in lines[4]
    assert lines[5] == "time       teacher 12 s (cached), selection 3 s, fine-tuning 5 s"
    assert lines[6] == f"pruned checkpoint: {os.path.join('saved', 'finetune.pth')}"


def test_a_from_scratch_run_has_no_teacher_line_to_compare(tmp_path):
    """train_small trains no teacher: its summary says so instead of failing."""
    write_tiny_dataset(tmp_path)
    result = _run_in(tmp_path, {
        "data_path": str(tmp_path), "epochs": 1, "eval_step": 1, "train_batch_size": 256,
        "checkpoint_dir": str(tmp_path / "saved"), "state": "WARNING", "use_gpu": False,
        "seed": 2020, "embedding_size": 8, "n_layers": 1, "prune_ratio": 0.5,
        "prune_criterion": "train_small", "log_wandb": False})
    summary = result["summary"]
    assert summary["test"]["dense"] is None and summary["full_sort_ms_per_1000_users"][0] is None
    lines = summary_lines(summary)
    assert "no dense teacher" in lines[0] and "ms per 1,000 users" in lines[4]


def test_a_teacher_file_that_is_gone_leaves_the_dense_side_out(tmp_path):
    """A rerun that reuses a finished fine-tuning records its teacher's path; if that file was
    removed since, the summary goes without the dense side instead of failing the run."""
    from types import SimpleNamespace

    from recbole_gcnprune.run_summary import _dense_test

    built = []
    trainer = SimpleNamespace(report={"teacher_file": str(tmp_path / "gone.pth")})
    models = {}
    assert _dense_test(trainer, None, lambda: built.append(1), models) is None
    assert built == [] and models == {}


def test_an_unreadable_teacher_file_leaves_the_dense_side_out(tmp_path):
    from types import SimpleNamespace

    from recbole_gcnprune.run_summary import _dense_test

    corrupt = tmp_path / "teacher.pth"
    corrupt.write_bytes(b"not a checkpoint")
    trainer = SimpleNamespace(report={"teacher_file": str(corrupt)}, device="cpu")
    models = {}
    assert _dense_test(trainer, None, lambda: None, models) is None
    assert models == {}
