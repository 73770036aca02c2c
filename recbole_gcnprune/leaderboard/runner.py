"""Run a leaderboard: every model spec x every seed under one shared set of settings.

Finished rows already under ``output/rows/`` are skipped; each new row is stored the moment it
finishes and the markdown, csv and plot are re-rendered, so the files are current at every point of
a long run and Ctrl-C loses at most the rows still running. Checkpoints (the pruning trainer's
cached teachers and resumable runs) live in ``output/checkpoints`` unless ``checkpoint_dir`` is
overridden.
"""

import os

from recbole_gcnprune.leaderboard.local_backend import run_locally
from recbole_gcnprune.leaderboard.render import render_leaderboard
from recbole_gcnprune.leaderboard.row import build_config, make_task, row_code_version
from recbole_gcnprune.leaderboard.store import RowStore
from recbole_gcnprune.leaderboard.versions import software_versions

DEFAULT_SPLIT_SEED = 2020


def make_settings(dataset, overrides=None, config_files=None, split_seed=DEFAULT_SPLIT_SEED):
    """What every row shares; a rerun must give the same settings to reuse finished rows."""
    return {
        "dataset": dataset,
        "overrides": dict(overrides or {}),
        "config_files": list(config_files or []),
        "split_seed": int(split_seed),
    }


def check_specs(tasks):
    """Build each spec's Config once before any training, so an unknown model or a bad value
    fails in seconds with its one-line message rather than in every row."""
    checked = set()
    for task in tasks:
        if task["label"] not in checked:
            build_config(task)
            checked.add(task["label"])


def _progress_line(count, total, task, row):
    head = f"[{count}/{total}] {task['label']} seed {task['seed']}"
    if row["status"] != "ok":
        return f"{head}: FAILED {row['error']}"
    ndcg = row["test_result"].get("ndcg@20")
    score = f"ndcg@20 {ndcg:.4f}, " if ndcg is not None else ""
    return f"{head}: {score}{row['parameters']:,} params, trained in {row['train_seconds']:.1f} s"


class _Run:
    """State of one invocation: the planned tasks, finished rows and failures."""

    def __init__(self, tasks, store, meta, progress, keep_other_code=False):
        """A finished row made by other code (another ``code_version`` of its model) is run
        again, unless ``keep_other_code`` (rendering only)."""
        self.tasks, self.store, self.meta, self.progress = tasks, store, meta, progress
        self.labels = list(dict.fromkeys(task["label"] for task in tasks))
        self.finished, self.other_code = {}, 0
        for task in tasks:
            row = store.load(task)
            if row is None:
                continue
            if keep_other_code or row.get("code_version") == row_code_version(task["model"]):
                self.finished[self._key(task)] = row
            else:
                self.other_code += 1
        self.failures = []
        self.todo = [task for task in tasks if self._key(task) not in self.finished]
        self.done = 0

    @staticmethod
    def _key(task):
        return task["label"], task["seed"]

    def on_result(self, task, row):
        log = row.pop("log", None)
        if log is not None:
            self.store.save_log(task, log)
        if row["status"] == "ok":
            self.store.save(row)
            self.finished[self._key(task)] = row
        else:
            log_path = self.store.log_path(task)
            self.failures.append({"label": task["label"], "seed": task["seed"],
                                  "error": row["error"],
                                  "log": log_path if os.path.exists(log_path) else "none"})
        self.done += 1
        self.progress(_progress_line(self.done, len(self.todo), task, row))
        self.render()

    def rows(self):
        return [self.finished[self._key(t)] for t in self.tasks if self._key(t) in self.finished]

    def render(self):
        failed = {(f["label"], f["seed"]) for f in self.failures}
        missing = [self._key(t) for t in self.tasks
                   if self._key(t) not in self.finished and self._key(t) not in failed]
        meta = dict(self.meta, failures=self.failures, missing=missing)
        return render_leaderboard(self.store.output, self.rows(), self.labels, meta)


def run_leaderboard(specs, seeds, settings, output, command="", ray_address=None,
                    ray_options=None, progress=print, render_only=False):
    """Run the missing rows of ``specs`` x ``seeds`` (locally, or on Ray when ``ray_address``
    is given) and render ``output/leaderboard.{md,csv,png}``.

    Returns a dict: ``summary`` (DataFrame), ``rows`` (finished rows, in plan order), ``failures``
    and ``paths`` of the files written. ``ray_options``: ``init_kwargs`` for ``ray.init`` and
    ``num_cpus``/``num_gpus`` per row. ``render_only`` runs nothing: the files show the finished
    rows and list the others as not run.
    """
    checkpoint_dir = os.path.abspath(os.path.join(output, "checkpoints"))
    tasks = [make_task(spec, seed, settings, checkpoint_dir) for spec in specs for seed in seeds]
    meta = {"command": command, "seeds": list(seeds), "settings": settings,
            "versions": software_versions()}
    run = _Run(tasks, RowStore(output), meta, progress, keep_other_code=render_only)
    progress(f"{len(tasks) - len(run.todo)} of {len(tasks)} rows already finished in {output}; "
             + ("rendering only, running none" if render_only else f"{len(run.todo)} to run")
             + (f" ({run.other_code} of them made by other code)" if run.other_code else ""))
    if render_only:
        run.todo = []
    check_specs(run.todo)
    if run.todo and ray_address:
        from recbole_gcnprune.leaderboard.ray_backend import run_on_ray

        run_on_ray(run.todo, run.on_result, ray_address, **(ray_options or {}))
    elif run.todo:
        run_locally(run.todo, run.store, run.on_result)
    summary, paths = run.render()
    return {"summary": summary, "rows": run.rows(), "failures": run.failures, "paths": paths}
