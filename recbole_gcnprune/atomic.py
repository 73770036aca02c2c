"""Atomic file writes: a temp file beside the target, flushed to disk, then renamed over it.

An interrupted write leaves the old file or none, never a partial one. Every result file,
checkpoint and converted dataset of the package is written through here.
"""

import io
import json
import os
import tempfile

import torch


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` (folders created; the file readable by all, as ``open`` makes)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj):
    """``obj`` as indented JSON with sorted keys (numpy/torch scalars as floats)."""
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True, default=float) + "\n")


def atomic_torch_save(obj, path):
    """``torch.save(obj)`` to ``path``."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())
