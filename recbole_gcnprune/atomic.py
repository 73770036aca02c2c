"""Atomic file writes: a temp file beside the target, flushed to disk, then renamed over it.

An interrupted write leaves the old file or none, never a partial one. Every result file,
checkpoint and converted dataset of the package is written through here.
"""

import io
import json
import os
import tempfile

import torch


def _current_umask():
    """The process umask, from ``/proc/self/status`` where Linux has it; elsewhere read by
    setting it (once, at import, before any other thread runs)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` (folders created; the mode ``open`` would give: 0o666 less the
    umask; ``mkstemp``'s is 0o600). The rename is made durable by syncing the folder too."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _sync_folder(folder)


def _sync_folder(folder):
    """fsync ``folder`` so that a rename in it survives a crash (where the OS allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
