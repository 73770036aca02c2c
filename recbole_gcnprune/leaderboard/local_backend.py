"""Run leaderboard rows here, one after another."""

from recbole_gcnprune.leaderboard import row as row_module


def run_locally(tasks, store, on_result):
    """Execute each task in this process, logging to its file, and hand each row to
    ``on_result(task, row)`` as it finishes. Ctrl-C stops at once: only the running row is lost."""
    for task in tasks:
        on_result(task, row_module.execute_row(task, store.log_path(task)))
