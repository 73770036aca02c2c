"""Every dataset layout RecBole 1.2.1 loads passes the dataset check; what it cannot load is one
line naming the files expected where.

Layouts: ``NAME.inter`` alone; with ``NAME.user``/``NAME.item``; the pre-split
``NAME.train.inter``, ``NAME.valid.inter``, ``NAME.test.inter`` selected by
``benchmark_filename`` (every listed file must be there), with or without side files.
"""

import os
import sys
from pathlib import Path

import pytest
from conftest import INTER_HEADER, write_tiny_dataset

from recbole_gcnprune import quick_start
from recbole_gcnprune.cli import main
from recbole_gcnprune.data import resolve
from recbole_gcnprune.errors import ConfigError, DatasetNotFoundError

PARTS = ["train", "valid", "test"]
SCRIPT = "run_recbole_prune.py"


def write_pre_split(root, name="tiny", parts=PARTS):
    """The tiny dataset as ``NAME.PART.inter`` files: per user 8 train, 1 valid, 1 test rows
    (every valid/test item also occurs in training). Returns the dataset folder."""
    folder = write_tiny_dataset(root, name)
    whole = folder / f"{name}.inter"
    rows = whole.read_text().splitlines()[1:]
    whole.unlink()
    by_part = {part: [] for part in PARTS}
    for start in range(0, len(rows), 10):
        user_rows = rows[start:start + 10]
        by_part["train"] += user_rows[:8]
        by_part["valid"].append(user_rows[8])
        by_part["test"].append(user_rows[9])
    for part in parts:
        (folder / f"{name}.{part}.inter").write_text(
            INTER_HEADER + "\n" + "\n".join(by_part[part]) + "\n")
    return folder


def write_side_files(folder, name="tiny"):
    (folder / f"{name}.user").write_text("user_id:token\tage:float\nu0\t30\nu1\t41\n")
    (folder / f"{name}.item").write_text("item_id:token\tgenre:token\ni0\ta\ni1\tb\n")


def config_for(folder, **keys):
    return {"dataset": folder.name, "data_path": str(folder), **keys}


def one_line_error(config):
    with pytest.raises(DatasetNotFoundError) as raised:
        resolve.ensure_dataset_files(config)
    message = str(raised.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------------- accepted
def test_inter_alone(tmp_path):
    resolve.ensure_dataset_files(config_for(write_tiny_dataset(tmp_path)))


def test_inter_with_user_and_item_files(tmp_path):
    folder = write_tiny_dataset(tmp_path)
    write_side_files(folder)
    resolve.ensure_dataset_files(config_for(folder))


def test_benchmark_files(tmp_path):
    resolve.ensure_dataset_files(config_for(write_pre_split(tmp_path), benchmark_filename=PARTS))


def test_benchmark_files_with_user_and_item_files(tmp_path):
    folder = write_pre_split(tmp_path)
    write_side_files(folder)
    resolve.ensure_dataset_files(config_for(folder, benchmark_filename=PARTS))


def test_benchmark_files_are_read_even_beside_an_inter_file(tmp_path):
    """RecBole reads the listed parts only; a ``NAME.inter`` beside them does not stand in."""
    folder = write_pre_split(tmp_path, parts=["train", "valid"])
    write_tiny_dataset(tmp_path)
    message = one_line_error(config_for(folder, benchmark_filename=PARTS))
    assert f"missing {folder / 'tiny.test.inter'}," in message


# ------------------------------------------------------------------------------- refused
def test_a_benchmark_layout_missing_a_file_names_it(tmp_path):
    folder = write_pre_split(tmp_path, parts=["train", "test"])
    message = one_line_error(config_for(folder, benchmark_filename=PARTS))
    assert message.startswith(f"dataset 'tiny' not found: missing {folder / 'tiny.valid.inter'},")
    assert "tiny.train.inter" not in message and "tiny.test.inter" not in message
    assert "benchmark_filename: [train, valid, test]" in message


def test_pre_split_files_without_benchmark_filename_name_the_key(tmp_path):
    folder = write_pre_split(tmp_path)
    message = one_line_error(config_for(folder))
    assert str(folder / "tiny.inter") in message
    assert message.endswith("tiny.train.inter, tiny.valid.inter, tiny.test.inter are there: "
                            "set benchmark_filename: [train, valid, test]")


def test_a_missing_dataset_names_both_layouts(tmp_path):
    folder = tmp_path / "gone"
    message = one_line_error(config_for(folder))
    assert message.startswith(
        f"dataset 'gone' not found: expected {folder / 'gone.inter'}, or "
        f"{folder / 'gone.train.inter'}, gone.valid.inter, gone.test.inter with "
        "benchmark_filename: [train, valid, test] (RecBole has no download for it); ")
    assert "--data_path=FOLDER" in message


def test_an_additional_feature_file_is_required(tmp_path):
    folder = write_tiny_dataset(tmp_path)
    message = one_line_error(config_for(folder, additional_feat_suffix=["ent"]))
    assert f"missing {folder / 'tiny.ent'}, read for additional_feat_suffix" in message
    (folder / "tiny.ent").write_text("ent_id:token\ne1\n")
    resolve.ensure_dataset_files(config_for(folder, additional_feat_suffix=["ent"]))


def test_a_downloadable_name_in_an_existing_folder_is_refused(tmp_path, monkeypatch):
    """RecBole downloads only when the folder is absent; in an existing one it would fail."""
    monkeypatch.setattr(resolve, "_online", lambda url, timeout=3.0: True)
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    message = one_line_error(config_for(folder))
    assert "RecBole downloads only into a folder that does not exist yet" in message
    folder.rmdir()
    resolve.ensure_dataset_files(config_for(folder))  # absent: RecBole downloads it


def test_a_string_benchmark_filename_is_a_config_error(tmp_path):
    folder = write_pre_split(tmp_path)
    with pytest.raises(ConfigError, match=r"invalid benchmark_filename='\[train, valid, test\]'"):
        resolve.ensure_dataset_files(config_for(folder, benchmark_filename="[train, valid, test]"))


# --------------------------------------------------------------------- end to end, CLI
def test_benchmark_files_run_end_to_end(tmp_path, monkeypatch):
    write_pre_split(tmp_path)
    monkeypatch.chdir(tmp_path)  # RecBole writes ./log and ./log_tensorboard
    config_dict = {
        "data_path": str(tmp_path), "benchmark_filename": PARTS, "epochs": 1, "eval_step": 1,
        "train_batch_size": 256, "checkpoint_dir": str(tmp_path / "saved"), "state": "WARNING",
        "use_gpu": False, "seed": 2020, "embedding_size": 8, "n_layers": 1, "prune_ratio": 0.5,
        "search_epochs": 1, "log_wandb": False, "show_progress": False,
    }
    captured = {}

    def recording_load_data(config):
        captured["loaders"] = load_data(config)[1]
        return None, captured["loaders"]

    load_data = quick_start.load_data
    monkeypatch.setattr(quick_start, "load_data", recording_load_data)
    result = quick_start.run_recbole_prune("GCNPruneGAN", "tiny", config_dict=config_dict)
    assert "ndcg@20" in result["test_result"]
    assert result["report"]["pruned"]["parameters"] < result["report"]["dense"]["parameters"]
    train, valid, test = (loader._dataset for loader in captured["loaders"])
    assert (len(train.inter_feat), len(valid.inter_feat), len(test.inter_feat)) == (480, 60, 60)


def test_cli_missing_dataset_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    argv = ["--model=GCNPruneGAN", "--dataset=absent", f"--data_path={tmp_path}"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [SCRIPT, *argv])
    assert main(argv) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    expected = Path(tmp_path) / "absent" / "absent.inter"
    assert line.startswith(f"error: dataset 'absent' not found: expected {expected}, or ")
    assert "benchmark_filename: [train, valid, test]" in line
    assert not os.path.exists(tmp_path / "absent")
