"""A ``teacher_checkpoint`` that cannot be loaded safely stops the run when the config is built:
exit 2, one line on stderr that names the fix and never suggests unsafe loading, and nothing of
RecBole's configuration log before it."""

import pickle
import subprocess
import sys

import pytest
import torch
from conftest import REPO_ROOT, write_tiny_dataset

from recbole_gcnprune.cli import main
from recbole_gcnprune.errors import ConfigError
from recbole_gcnprune.pruning import checkpoint as checkpoint_module
from recbole_gcnprune.pruning.checkpoint import TEACHER_HINT, check_teacher_file

SCRIPT = "run_recbole_prune.py"
STATE = {"user_embedding.weight": torch.zeros(3, 2)}


class RecBoleLikeConfig:
    """Stands in for the Config object RecBole's own checkpoints pickle."""


def random_bytes(path):
    path.write_bytes(bytes(range(256)) * 8)


def plain_pickle(path):
    with open(path, "wb") as f:
        pickle.dump({"weights": [1.0, 2.0], "epoch": 3}, f)


def recbole_style(path):
    torch.save({"config": RecBoleLikeConfig(), "epoch": 3, "cur_step": 0,
                "best_valid_score": 0.1, "state_dict": STATE, "other_parameter": None,
                "optimizer": {}}, path)


def missing(path):
    pass


CASES = {
    "corrupt": (random_bytes, "cannot be read with weights_only=True (not a checkpoint written "
                              "by torch.save)"),
    "plain_pickle": (plain_pickle, "cannot be read with weights_only=True (not a checkpoint "
                                   "written by torch.save)"),
    "recbole_style": (recbole_style, "cannot be read with weights_only=True (it pickles "
                                     f"{__name__}.RecBoleLikeConfig, not only tensors"),
    "missing": (missing, "not found"),
}


def run_cli(argv, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [SCRIPT, *argv])  # RecBole reads --key=value from sys.argv
    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


@pytest.mark.parametrize("case", sorted(CASES))
def test_unsafe_teacher_checkpoint_stops_before_recboles_log(case, tmp_path, monkeypatch, capsys):
    write, expected = CASES[case]
    path = tmp_path / "teacher.pth"
    write(path)
    write_tiny_dataset(tmp_path)  # without the early check the run would get as far as the load
    monkeypatch.chdir(tmp_path)
    argv = ["--model=GCNPruneGAN", "--dataset=tiny", f"--data_path={tmp_path}",
            f"--teacher_checkpoint={path}", "--use_gpu=False", "--epochs=1"]
    rc, out, err = run_cli(argv, monkeypatch, capsys)
    assert rc == 2
    (line,) = err.splitlines()
    assert line.startswith(f"error: teacher_checkpoint {path} {expected}")
    assert line.endswith(TEACHER_HINT)
    assert "weights_only=False" not in line and "\x1b" not in line
    assert out == ""
    # In process, pytest's own log handlers keep RecBole's log off capsys; the ./log folder
    # that init_logger makes first shows it never ran.
    assert not (tmp_path / "log").exists()


def test_as_a_process_nothing_precedes_the_error_line(tmp_path):
    path = tmp_path / "teacher.pth"
    recbole_style(path)
    write_tiny_dataset(tmp_path)
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / SCRIPT), "--model=GCNPruneGAN", "--dataset=tiny",
         f"--data_path={tmp_path}", f"--teacher_checkpoint={path}", "--use_gpu=False"],
        cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180,
        check=False)
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: teacher_checkpoint {path} cannot be read")
    assert "weights_only=False" not in line


@pytest.mark.parametrize("payload, message", [
    ({"meta": {}}, "has no 'state_dict' of tensors"),
    ({"state_dict": {"w": "text"}}, "has no 'state_dict' of tensors"),
    ({"state_dict": STATE, "pruning": {"widths": {"embedding": 1}}}, "is a pruned model"),
    (object(), "cannot be read with weights_only=True (it pickles object,"),
])
def test_check_teacher_file_refuses_what_is_no_dense_teacher(tmp_path, payload, message):
    path = tmp_path / "teacher.pth"
    torch.save(payload, path)
    with pytest.raises(ConfigError) as raised:
        check_teacher_file(str(path))
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_a_folder_is_not_a_file(tmp_path):
    with pytest.raises(ConfigError, match=f"teacher_checkpoint {tmp_path} is not a file: "):
        check_teacher_file(str(tmp_path))


def test_the_check_maps_tensors_instead_of_reading_them(tmp_path, monkeypatch):
    """A dense checkpoint passes; the check loads it memory-mapped (the pickle is read, the
    tensor data is not)."""
    path = tmp_path / "teacher.pth"
    torch.save({"state_dict": STATE, "meta": {"best_valid_score": 0.1}}, path)
    calls = []
    load = torch.load

    def recording_load(*args, **kwargs):
        calls.append(kwargs)
        return load(*args, **kwargs)

    monkeypatch.setattr(checkpoint_module.torch, "load", recording_load)
    check_teacher_file(str(path))
    assert [(c["weights_only"], c["mmap"]) for c in calls] == [(True, True)]


def test_a_legacy_torch_file_is_read_whole(tmp_path):
    path = tmp_path / "teacher.pth"
    torch.save({"state_dict": STATE}, path, _use_new_zipfile_serialization=False)
    check_teacher_file(str(path))


def test_config_accepts_a_dense_teacher_checkpoint(tiny_config_dict, make_config, tmp_path):
    path = tmp_path / "teacher.pth"
    torch.save({"state_dict": STATE}, path)
    config = make_config("GCNPruneGAN", {**tiny_config_dict, "teacher_checkpoint": path})
    assert config["teacher_checkpoint"] == str(path)
