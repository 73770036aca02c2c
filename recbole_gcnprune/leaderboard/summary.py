"""Finished rows -> one line per model spec: mean and sample std over seeds.

A column ``X`` of a row becomes ``X_mean`` and ``X_std`` (std with ``ddof=1``; NaN with one seed).
Test metrics are those of ``METRICS``; a metric a row lacks (other ``topk``/``metrics``) is NaN.
"""

import pandas as pd

from recbole_gcnprune.registry import plugin_models
from recbole_gcnprune.trainer.run_keys import inactive_keys

METRICS = (
    "recall@10",
    "recall@20",
    "ndcg@10",
    "ndcg@20",
    "precision@20",
    "f1@20",
    "hit@20",
    "mrr@20",
)
MEASURES = ("parameters", "checkpoint_bytes", "full_sort_ms_per_1000_users", "train_seconds")


def pruning_criterion(row):
    """How a row of our models was pruned (``gan``, ``magnitude``, ..., ``none`` when dense);
    None for other models. Without a resolved ``prune_criterion`` a ``prune_ratio`` means gan."""
    if row["model"] not in plugin_models():
        return None
    criterion = row.get("prune_criterion")
    if criterion is None:
        return "gan" if row.get("prune_ratio") is not None else "none"
    return criterion


def variant(row, criterion):
    """Our model's variant: its backbone loss, ``bpr`` (also rows stored before the option
    existed), ``ccl`` or ``ccl-usernorm`` (``ccl_item_norm: False``), plus ``, ft-eval N`` and
    ``, ft-lr X`` / ``, search-lr X`` when fine-tuning was validated on its own schedule
    (``finetune_eval_step``), or fine-tuning or the search's student trained at its own learning
    rate (``finetune_learning_rate``, ``search_learning_rate``), or, in rows made before that
    key was removed as neutral, stopped on gains above a delta (``finetune_stopping_delta``,
    ``, ft-delta X``), unless the key
    does not act on the row's criterion (the trainer's ``inactive_keys``, which also names run
    folders); a dense row, whose ``criterion`` is ``none``, has no fine-tuning."""
    config = row.get("config", {})
    loss = config.get("ranking_loss", "bpr")
    name = "ccl-usernorm" if loss == "ccl" and config.get("ccl_item_norm") is False else loss
    if criterion == "none":
        return name
    for key, short in (("finetune_eval_step", "ft-eval"), ("finetune_learning_rate", "ft-lr"),
                       ("finetune_stopping_delta", "ft-delta"),
                       ("search_learning_rate", "search-lr")):
        if config.get(key) and key not in inactive_keys(criterion):
            name += f", {short} {config[key]:g}"
    return name


def _flat(row):
    flat = {metric: row["test_result"].get(metric) for metric in METRICS}
    flat.update({measure: row.get(measure) for measure in MEASURES})
    return flat


def _stats(label, rows):
    frame = pd.DataFrame([_flat(row) for row in rows], dtype=float)
    first = rows[0]
    criterion = pruning_criterion(first)
    line = {
        "model": label,
        "base_model": first["model"],
        "prune_criterion": criterion,
        "prune_ratio": first.get("prune_ratio") if criterion not in (None, "none") else None,
        "variant": variant(first, criterion) if criterion is not None else None,
        "seeds": ",".join(str(row["seed"]) for row in rows),
        "n_seeds": len(rows),
    }
    for column in frame.columns:
        line[f"{column}_mean"] = frame[column].mean()
        line[f"{column}_std"] = frame[column].std(ddof=1) if len(rows) > 1 else float("nan")
    return line


def summarize(rows, labels):
    """One line per label in ``labels`` (order kept) that has finished rows."""
    by_label = {}
    for row in rows:
        by_label.setdefault(row["label"], []).append(row)
    lines = [_stats(label, by_label[label]) for label in labels if label in by_label]
    return pd.DataFrame(lines)
