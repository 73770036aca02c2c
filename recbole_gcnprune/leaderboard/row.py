"""One leaderboard row: train and test one model spec with one seed, then measure it.

:func:`execute_row` takes and returns plain dicts, so it runs the same in this process or as a
Ray task. The pipeline is quick_start's (``load_data``, ``model_and_trainer``, ``fit`` with
``saved=True``, test with the best model loaded), with two differences:

* the data split is drawn under ``split_seed`` (the same for every row), and the model, sampling
  and training under the row's own seed, so seeds vary training, not the test set;
* the command line is hidden from RecBole while the ``Config`` is built (every override arrives in
  the task), so a row computes the same here, in a Ray worker, or in a test.

``checkpoint_dir`` is shared by the rows (``output/checkpoints`` unless overridden), so
GCNPruneGAN rows of one seed share the pruning trainer's cached dense teacher; a row's own RecBole
checkpoint gets a name of its own there (rows may run at once on Ray) and is removed once tested.
The row's training time adds the recorded time of every phase reused from there
(``reused_seconds``: a cached teacher, a resumed selection and fine-tuning), so every pruned row
reports the full cost of producing it.
"""

import contextlib
import io
import logging
import os
import platform
import sys
import time
import traceback

from recbole.utils.logger import RemoveColorFilter

from recbole_gcnprune.compat import plain_config
from recbole_gcnprune.config import Config
from recbole_gcnprune.leaderboard.spec import row_id
from recbole_gcnprune.leaderboard.versions import software_versions
from recbole_gcnprune.measure import (
    Stopwatch,
    count_parameters,
    full_sort_ms_per_1000_users,
    state_dict_bytes,
)
from recbole_gcnprune.quick_start import load_data, model_and_trainer
from recbole_gcnprune.registry import plugin_models
from recbole_gcnprune.version import code_version

EVAL_KEYS = ("eval_args", "metrics", "topk", "valid_metric", "epochs", "eval_step", "stopping_step")


def row_code_version(model):
    """The code version of a row of ``model``: RecBole's own models run none of the plugin
    model's code, so theirs leaves it out."""
    return code_version(plugin_model=model in plugin_models())


def make_task(spec, seed, settings, checkpoint_dir):
    """The plain-dict description of one row (what :func:`execute_row` needs)."""
    return {
        "label": spec.label,
        "model": spec.model,
        "overrides": spec.config_dict(),
        "seed": seed,
        "settings": dict(settings),
        "checkpoint_dir": checkpoint_dir,
    }


def task_config_dict(task):
    """Shared overrides, then the spec's, then the row's seed and split seed (a config key too,
    so checkpoints cached by config, such as the pruning trainer's teachers, know the split)."""
    config_dict = {"checkpoint_dir": task["checkpoint_dir"]}
    config_dict.update(task["settings"]["overrides"])
    config_dict.update(task["overrides"])
    config_dict["seed"] = task["seed"]
    config_dict["split_seed"] = task["settings"]["split_seed"]
    return config_dict


@contextlib.contextmanager
def hidden_command_line():
    """Let RecBole's ``Config`` see no ``--key=value`` arguments while it is built."""
    saved = sys.argv
    sys.argv = saved[:1] or ["recbole_gcnprune"]
    try:
        yield
    finally:
        sys.argv = saved


def build_config(task):
    settings = task["settings"]
    with hidden_command_line():
        return Config(
            task["model"],
            settings["dataset"],
            settings.get("config_files") or None,
            task_config_dict(task),
        )


@contextlib.contextmanager
def captured_logs(log_path=None):
    """Route the root logger (RecBole logs there) to ``log_path``, or to memory when None;
    yields a function returning the text captured in memory ("" for a file)."""
    memory = io.StringIO()
    handler = logging.FileHandler(log_path) if log_path else logging.StreamHandler(memory)
    handler.setFormatter(logging.Formatter("%(asctime)-15s %(levelname)s  %(message)s"))
    handler.addFilter(RemoveColorFilter())
    root = logging.getLogger()
    saved_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        yield memory.getvalue
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(saved_level)
        handler.close()


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if hasattr(value, "item"):
        return value.item() if getattr(value, "ndim", 0) == 0 else value.tolist()
    return str(value)


def _reused_seconds(trainer):
    """Recorded training time of the pruning trainer's phases this row reused instead of running:
    a dense teacher from its cache, and the selection and fine-tuning of a resumed run."""
    report = getattr(trainer, "report", None) or {}
    teacher = report.get("teacher") or {}
    seconds = float(teacher.get("train_seconds", 0.0)) if teacher.get("cached") else 0.0
    if report.get("resumed"):
        seconds += report.get("selection_seconds", 0.0) + report.get("finetune_seconds", 0.0)
    return seconds


def _measurements(model, test_data, device):
    return {
        "parameters": count_parameters(model),
        "checkpoint_bytes": state_dict_bytes(model),
        "full_sort_ms_per_1000_users": full_sort_ms_per_1000_users(model, test_data, device),
    }


def _fit(trainer, train_data, valid_data, config):
    """``trainer.fit`` with ``saved=True``; returns its result and its wall time."""
    with Stopwatch(config["device"]) as clock:
        best_valid_score, best_valid_result = trainer.fit(
            train_data, valid_data, saved=True, show_progress=config["show_progress"]
        )
    return best_valid_score, best_valid_result, clock.seconds


def _own_checkpoint(config, task):
    name = row_id(task["label"], task["seed"]) + ".pth"
    return os.path.join(config["checkpoint_dir"], "rows", name)


def _train_and_measure(task):
    config = build_config(task)
    _, (train_data, valid_data, test_data) = load_data(config)
    with model_and_trainer(config, train_data) as (_, trainer):
        own_checkpoint = trainer.saved_model_file = _own_checkpoint(config, task)
        try:
            return _fit_test_measure(trainer, config, train_data, valid_data, test_data)
        finally:
            if os.path.exists(own_checkpoint):
                os.remove(own_checkpoint)


def _fit_test_measure(trainer, config, train_data, valid_data, test_data):
    best_valid_score, best_valid_result, fit_seconds = _fit(trainer, train_data, valid_data, config)
    test_result = trainer.evaluate(
        test_data, load_best_model=True, show_progress=config["show_progress"]
    )
    reused_seconds = _reused_seconds(trainer)
    result = {
        "test_result": _jsonable(dict(test_result)),
        "best_valid_score": float(best_valid_score),
        "best_valid_result": _jsonable(dict(best_valid_result)),
        "fit_seconds": fit_seconds,
        "reused_seconds": reused_seconds,
        "train_seconds": fit_seconds + reused_seconds,
        "prune_criterion": config["prune_criterion"],
        "prune_ratio": config["prune_ratio"],
        "eval_config": _jsonable({key: config[key] for key in EVAL_KEYS}),
        "config": plain_config(config),
    }
    result.update(_measurements(trainer.model, test_data, config["device"]))
    report = getattr(trainer, "report", None)
    if report is not None:
        result["report"] = _jsonable(report)
    return result


def execute_row(task, log_path=None):
    """Run one row; returns ``task`` plus ``status`` ("ok" or "failed") and its results or error.
    Without ``log_path`` the row's log comes back as ``"log"``. ``KeyboardInterrupt`` propagates."""
    row = dict(task, host=f"{platform.machine()}, {os.cpu_count()} CPUs", versions=software_versions(),
               code_version=row_code_version(task["model"]))
    with captured_logs(log_path) as log_text:
        try:
            row.update(_train_and_measure(task), status="ok")
        except Exception as err:  # noqa: BLE001 - a failed row is reported, the others still run
            logging.getLogger().error(traceback.format_exc())
            row.update(status="failed", error=f"{type(err).__name__}: {err}")
        if log_path is None:
            row["log"] = log_text()
    row["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return row
