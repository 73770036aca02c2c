"""Atomic writes: the target holds the old content or the new, never a partial file."""

import json
import os

import numpy as np
import pytest
import torch

from recbole_gcnprune import atomic


def leftovers(folder):
    return [f for f in os.listdir(folder) if f.startswith(".tmp-")]


def test_writes_create_folders_and_leave_no_temp_file(tmp_path):
    path = tmp_path / "a" / "b" / "result.json"
    atomic.atomic_write_json(str(path), {"b": 2, "a": np.float32(0.5)})  # numpy scalar
    assert json.loads(path.read_text()) == {"a": 0.5, "b": 2}
    assert path.read_text().index('"a"') < path.read_text().index('"b"')  # sorted keys
    assert leftovers(path.parent) == []
    with open(tmp_path / "by-open.txt", "w"):
        pass
    assert path.stat().st_mode & 0o777 == (tmp_path / "by-open.txt").stat().st_mode & 0o777


def test_the_mode_follows_the_umask_as_open_does(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_UMASK", 0o027)
    atomic.atomic_write_text(str(tmp_path / "r.txt"), "x")
    assert oct((tmp_path / "r.txt").stat().st_mode & 0o777) == oct(0o640)


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "result.txt"
    atomic.atomic_write_text(str(path), "old")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic.atomic_write_text(str(path), "new")
    assert path.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_torch_save_loads_with_weights_only(tmp_path):
    path = str(tmp_path / "model.pth")
    state = {"state_dict": {"w": torch.arange(6.0).reshape(2, 3)}, "meta": {"kept": [0, 2]}}
    atomic.atomic_torch_save(state, path)
    loaded = torch.load(path, weights_only=True)
    torch.testing.assert_close(loaded["state_dict"]["w"], state["state_dict"]["w"])
    assert loaded["meta"] == {"kept": [0, 2]}
