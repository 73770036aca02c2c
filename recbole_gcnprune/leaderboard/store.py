"""The leaderboard's output folder: one JSON per finished row, written atomically.

Layout of ``output/``: ``rows/<row id>.json`` (finished rows), ``logs/<row id>.log`` (each row's
RecBole log), ``checkpoints/`` (cached teachers, resumable pruning runs), and the rendered
``leaderboard.md``, ``leaderboard.csv``, ``leaderboard.png``. The logs and checkpoints hold the
absolute paths of the machine that ran the rows and are not meant to be committed (the
repository's ``.gitignore`` leaves them out under ``results/leaderboard/``).

A stored row holds no absolute path: every absolute path in it (``checkpoint_dir``, the config's
``data_path``, the pruning report's ``run_dir`` and ``teacher_file``, ...) is written relative to
the output folder, and ``relative_paths`` lists where each sits in the row (JSON Pointers, RFC
6901: ``/config/data_path``). :func:`read_row` (and :meth:`RowStore.load`) resolves them against
the folder the row is read from, so rows stay valid in a clone of the repository; a script that
reads rows files should read them with :func:`read_row`. Rows written before this carry absolute
paths and no ``relative_paths``; they read back unchanged.

Every file is written to a temp file beside it and renamed over it, so an interrupted write leaves
the old file or none, never a partial one.
"""

import copy
import json
import os
import posixpath

from recbole_gcnprune.atomic import atomic_write_text
from recbole_gcnprune.errors import UserInputError
from recbole_gcnprune.leaderboard.spec import row_id

RELATIVE_PATHS = "relative_paths"


def _plain(value):
    """``value`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def _is_absolute_path(value):
    return isinstance(value, str) and "\n" not in value and os.path.isabs(value)


def _walk(value, where=()):
    """``(where, text)`` of every string in ``value``; ``where`` is the list of keys and indices
    that leads to it."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*where, index))
    elif isinstance(value, str):
        yield where, value


def _pointer(where):
    """``("config", "data_path")`` -> ``"/config/data_path"`` (a JSON Pointer, RFC 6901)."""
    return "".join("/" + str(step).replace("~", "~0").replace("/", "~1") for step in where)


def _steps(pointer):
    return [step.replace("~1", "/").replace("~0", "~") for step in pointer.split("/")[1:]]


def _parent(value, pointer):
    """The container holding ``pointer``'s target and the key (or index) of it there."""
    steps = _steps(pointer)
    if not steps:
        raise KeyError(pointer)
    for step in steps[:-1]:
        value = value[int(step) if isinstance(value, list) else step]
    last = steps[-1]
    return value, int(last) if isinstance(value, list) else last


def relative_to(path, base):
    """``path`` relative to the folder ``base`` (posix separators), ending in the name of its
    target: a folder above ``base`` is ``../../data`` rather than ``..``. ValueError when there is
    no relative form (another drive on Windows)."""
    path = os.path.normpath(path)
    relative = os.path.relpath(path, base)
    name = os.path.basename(path)
    if os.path.basename(relative) in ("", os.curdir, os.pardir) and name:
        relative = os.path.join(os.path.relpath(os.path.dirname(path), base), name)
    return relative.replace(os.sep, "/")


def portable_row(row, output):
    """A copy of ``row`` with every absolute path made relative to ``output`` (posix separators)
    and listed under ``relative_paths``."""
    row = _plain(row)
    row.pop(RELATIVE_PATHS, None)
    base = os.path.abspath(output)
    moved = []
    for where, text in list(_walk(row)):
        if not _is_absolute_path(text):
            continue
        try:
            relative = relative_to(text, base)
        except ValueError:  # another drive (Windows): no relative form
            continue
        container, key = _parent(row, _pointer(where))
        container[key] = relative
        moved.append(_pointer(where))
    if moved:
        row[RELATIVE_PATHS] = sorted(moved)
    return row


def resolve_row(row, output):
    """The inverse of :func:`portable_row`: the paths listed under ``relative_paths`` made absolute
    against ``output`` (the list itself removed). A row without the list is returned unchanged."""
    row = copy.deepcopy(row)
    base = os.path.abspath(output)
    for pointer in row.pop(RELATIVE_PATHS, None) or []:
        try:
            container, key = _parent(row, pointer)
            text = container[key]
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        if isinstance(text, str) and not os.path.isabs(text):
            container[key] = os.path.normpath(os.path.join(base, text))
    return row


def comparable_settings(settings, output):
    """``settings`` as :meth:`RowStore.load` compares them: an absolute path (stored relative to
    the output folder) counts by the name of its target only, so a leaderboard folder copied or
    moved elsewhere still reuses its rows when given the same data folder."""
    row = portable_row({"settings": settings}, output)
    for pointer in row.get(RELATIVE_PATHS, []):
        container, key = _parent(row, pointer)
        container[key] = {"path named": posixpath.basename(container[key].rstrip("/"))}
    return row["settings"]


def output_of(row_path):
    """The leaderboard folder a row file belongs to (``output/rows/<id>.json`` -> ``output``)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(row_path)))


def read_row(path, output=None):
    """The row stored at ``path``, its paths resolved against its leaderboard folder (``output``,
    by default the folder above ``rows/``)."""
    with open(path, encoding="utf-8") as f:
        row = json.load(f)
    return resolve_row(row, output if output is not None else output_of(path))


class RowStore:
    """Finished rows of one leaderboard under ``output/rows/``."""

    def __init__(self, output):
        self.output = output
        self.rows_dir = os.path.join(output, "rows")
        self.logs_dir = os.path.join(output, "logs")

    def row_path(self, task):
        return os.path.join(self.rows_dir, row_id(task["label"], task["seed"]) + ".json")

    def log_path(self, task):
        os.makedirs(self.logs_dir, exist_ok=True)
        return os.path.join(self.logs_dir, row_id(task["label"], task["seed"]) + ".log")

    def load(self, task):
        """The finished row of ``task`` (paths resolved), or None. Raises
        :class:`UserInputError` when it was run with other shared settings (dataset, overrides,
        config files, split seed)."""
        path = self.row_path(task)
        if not os.path.isfile(path):
            return None
        row = read_row(path, self.output)
        stored = comparable_settings(row.get("settings"), self.output)
        if stored != comparable_settings(task["settings"], self.output):
            raise UserInputError(
                f"{path} was run with other settings ({row.get('settings')}) than this run "
                f"({task['settings']}): use another --output, or delete {self.rows_dir}"
            )
        return row

    def save(self, row):
        text = json.dumps(portable_row(row, self.output), indent=2, sort_keys=True) + "\n"
        atomic_write_text(self.row_path(row), text)

    def save_log(self, task, text):
        atomic_write_text(self.log_path(task), text)
