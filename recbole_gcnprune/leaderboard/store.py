"""The leaderboard's output folder: one JSON per finished row, written atomically.

Layout of ``output/``: ``rows/<row id>.json`` (finished rows), ``logs/<row id>.log`` (each row's
RecBole log), and the rendered ``leaderboard.md``, ``leaderboard.csv``, ``leaderboard.png``. Every
file is written to a temp file beside it and renamed over it, so an interrupted write leaves the old
file or none, never a partial one.
"""

import json
import os

from recbole_gcnprune.atomic import atomic_write_text
from recbole_gcnprune.errors import UserInputError
from recbole_gcnprune.leaderboard.spec import row_id


def _plain(value):
    """``value`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


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
        """The finished row of ``task``, or None. Raises :class:`UserInputError` when it was run
        with other shared settings (dataset, overrides, config files, split seed)."""
        path = self.row_path(task)
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as f:
            row = json.load(f)
        if row.get("settings") != _plain(task["settings"]):
            raise UserInputError(
                f"{path} was run with other settings ({row.get('settings')}) than this run "
                f"({task['settings']}): use another --output, or delete {self.rows_dir}"
            )
        return row

    def save(self, row):
        atomic_write_text(self.row_path(row), json.dumps(row, indent=2, sort_keys=True) + "\n")

    def save_log(self, task, text):
        atomic_write_text(self.log_path(task), text)
