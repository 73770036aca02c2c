"""The main job's closing lines: the dense teacher beside the pruned model.

Test NDCG@20 and Recall@20 of both with the share kept, parameters and checkpoint bytes before
and after, the full-sort speed-up (both models timed in turn, medians), the time of each phase
and where the pruned checkpoint is.
"""

import os
from contextlib import contextmanager
from logging import getLogger

from recbole_gcnprune.errors import ConfigError
from recbole_gcnprune.measure import interleaved_full_sort_ms
from recbole_gcnprune.pruning.checkpoint import load_teacher

METRICS = ("ndcg@20", "recall@20")
SPEED_ROUNDS = 7


@contextmanager
def evaluating(trainer, model):
    """``trainer`` with ``model`` in place of its own, for RecBole's ``evaluate``."""
    own, trainer.model = trainer.model, model
    try:
        yield trainer
    finally:
        trainer.model = own


def summarise(trainer, test_result, test_data, build_dense):
    """Plain-value summary of a pruning run (``trainer.report`` plus the teacher's test scores
    and the speed-up), or None for a run that pruned nothing. ``build_dense()`` gives a fresh
    model of the run's config, into which the teacher is loaded; a run without a teacher
    (train_small), or whose teacher file is gone, is summarised without the dense side."""
    report = getattr(trainer, "report", None)
    if not report or "pruned" not in report:
        return None
    models = {"pruned": (trainer.model, test_data)}
    dense_test = _dense_test(trainer, test_data, build_dense, models)
    speed = interleaved_full_sort_ms(models, SPEED_ROUNDS, trainer.device)
    teacher = report.get("teacher", {})
    return {
        "test": {"dense": dense_test, "pruned": {m: float(test_result[m]) for m in METRICS}},
        "parameters": [report["dense"]["parameters"], report["pruned"]["parameters"]],
        "checkpoint_bytes": [report["dense"]["state_dict_bytes"],
                             report["pruned"]["state_dict_bytes"]],
        "full_sort_ms_per_1000_users": [speed.get("dense"), speed["pruned"]],
        "seconds": {"teacher": teacher.get("train_seconds"), "teacher_cached": teacher.get("cached"),
                    "selection": report.get("selection_seconds"),
                    "finetune": report.get("finetune_seconds")},
        "checkpoint": trainer.saved_model_file,
    }


def _dense_test(trainer, test_data, build_dense, models):
    """The teacher's test NDCG@20 and Recall@20 (and its model added to ``models`` for the
    timing), or None when there is no readable teacher to compare with."""
    teacher_file = trainer.report.get("teacher_file")
    if not teacher_file or not os.path.isfile(teacher_file):
        return None
    dense = build_dense()
    try:
        load_teacher(dense, teacher_file, trainer.device, "teacher")
    except ConfigError as error:
        getLogger().warning(f"summary without the dense model: {error}")
        return None
    with evaluating(trainer, dense):
        result = trainer.evaluate(test_data, load_best_model=False)
    models["dense"] = (dense, test_data)
    return {m: float(result[m]) for m in METRICS}


def _share(after, before):
    return f"{100.0 * after / before:.1f}%" if before else "-"


def _seconds(value):
    return "-" if value is None else f"{value:.0f} s"


def summary_lines(summary):
    """The lines the command line prints after the test metrics."""
    lines, dense_test = [], summary["test"]["dense"]
    for metric in METRICS:
        pruned = summary["test"]["pruned"][metric]
        if dense_test is None:
            lines.append(f"{metric.upper():<10} pruned {pruned:.4f} (no dense teacher to "
                         "compare with)")
            continue
        dense = dense_test[metric]
        lines.append(f"{metric.upper():<10} dense {dense:.4f} -> pruned {pruned:.4f} "
                     f"({_share(pruned, dense)} of dense)")
    (p0, p1), (b0, b1) = summary["parameters"], summary["checkpoint_bytes"]
    lines.append(f"parameters {p0:,} -> {p1:,} ({_share(p1, p0)})")
    lines.append(f"checkpoint {b0 / 1e6:.2f} MB -> {b1 / 1e6:.2f} MB ({_share(b1, b0)})")
    t0, t1 = summary["full_sort_ms_per_1000_users"]
    lines.append(f"full sort  {t0:.1f} -> {t1:.1f} ms per 1,000 users ({t0 / t1:.2f}x faster)"
                 if t0 else f"full sort  {t1:.1f} ms per 1,000 users")
    seconds = summary["seconds"]
    cached = " (cached)" if seconds["teacher_cached"] else ""
    lines.append(f"time       teacher {_seconds(seconds['teacher'])}{cached}, selection "
                 f"{_seconds(seconds['selection'])}, fine-tuning {_seconds(seconds['finetune'])}")
    lines.append(f"pruned checkpoint: {os.path.relpath(summary['checkpoint'])}")
    return lines
