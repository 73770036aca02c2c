"""Write ``leaderboard.csv`` (raw numbers) and ``leaderboard.md`` (header + formatted table).

The markdown header records what a reader needs to reproduce the table: the exact command, the
date, software versions, dataset, seeds, split seed, shared overrides and the split/eval config the
rows ran with (rows that differ from the common one are named).
"""

import json
import math
import os
import time
from collections import Counter

from recbole_gcnprune.atomic import atomic_write_text
from recbole_gcnprune.leaderboard.plot import write_plot
from recbole_gcnprune.leaderboard.summary import METRICS, summarize

_METRIC_TITLES = {
    "recall": "Recall",
    "ndcg": "NDCG",
    "precision": "Precision",
    "f1": "F1",
    "hit": "Hit",
    "mrr": "MRR",
}
MARKDOWN_FILE, CSV_FILE, PLOT_FILE = "leaderboard.md", "leaderboard.csv", "leaderboard.png"


def metric_title(metric):
    name, _, k = metric.partition("@")
    return f"{_METRIC_TITLES.get(name, name)}@{k}"


def _missing(value):
    return value is None or (isinstance(value, float) and math.isnan(value))


def mean_std(mean, std, digits=4, suffix=""):
    """``0.1234 ± 0.0012`` (just the mean with one seed, ``–`` when absent)."""
    if _missing(mean):
        return "–"
    text = f"{mean:.{digits}f}{suffix}"
    return text if _missing(std) else f"{text} ± {std:.{digits}f}{suffix}"


def human_bytes(n):
    if _missing(n):
        return "–"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0


def _count(n):
    return "–" if _missing(n) else f"{round(n):,}"


def _metric_cells(summary, metric):
    means, stds = summary[f"{metric}_mean"], summary[f"{metric}_std"]
    best = means.max()
    cells = []
    for mean, std in zip(means, stds):
        cell = mean_std(mean, std)
        cells.append(f"**{cell}**" if not _missing(mean) and mean == best else cell)
    return cells


def markdown_table(summary):
    """The leaderboard as a markdown table (best mean of each metric in bold)."""
    headers = ["Model", "Seeds"] + [metric_title(m) for m in METRICS]
    headers += ["Params", "Checkpoint", "Full-sort ms / 1k users", "Train time (s)"]
    columns = [list(summary["model"]), [str(n) for n in summary["n_seeds"]]]
    columns += [_metric_cells(summary, metric) for metric in METRICS]
    columns.append([_count(n) for n in summary["parameters_mean"]])
    columns.append([human_bytes(n) for n in summary["checkpoint_bytes_mean"]])
    columns.append(
        [mean_std(m, s, 1) for m, s in zip(summary["full_sort_ms_per_1000_users_mean"],
                                           summary["full_sort_ms_per_1000_users_std"])]
    )
    columns.append(
        [mean_std(m, s, 1) for m, s in zip(summary["train_seconds_mean"],
                                           summary["train_seconds_std"])]
    )
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cells) + " |" for cells in zip(*columns)]
    return "\n".join(lines)


def _eval_config_lines(rows):
    configs = Counter(json.dumps(row.get("eval_config"), sort_keys=True) for row in rows)
    if not configs:
        return ["- Split/eval config: (no finished rows yet)"]
    common, _ = configs.most_common(1)[0]
    lines = [f"- {key}: `{value}`" for key, value in json.loads(common).items()]
    odd = sorted({row["label"] for row in rows
                  if json.dumps(row.get("eval_config"), sort_keys=True) != common})
    if odd:
        lines.append(f"- **Rows with another split/eval config** (see rows/*.json): {', '.join(odd)}")
    return lines


def header(meta, rows):
    settings = meta["settings"]
    versions = ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
    overrides = " ".join(f"--{k}={v}" for k, v in settings["overrides"].items()) or "(none)"
    lines = [
        f"# Leaderboard: {settings['dataset']}",
        "",
        f"- Command: `{meta['command']}`",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"- Versions: {versions}",
        f"- Dataset: {settings['dataset']}",
        f"- Seeds: {', '.join(str(s) for s in meta['seeds'])} (training seeds: mean ± sample std)",
        f"- Split seed: {settings['split_seed']} (every row is tested on the same split)",
        f"- Shared overrides: {overrides}",
        f"- Config files: {', '.join(settings.get('config_files') or []) or '(none)'}",
    ]
    lines += _eval_config_lines(rows)
    lines.append(
        "- Metrics: test set, with the best-validation checkpoint. Params: parameter elements "
        "(buffers excluded). Checkpoint: bytes of the final model's state_dict. Full-sort: median "
        "ms to score 1,000 users against all items, propagation included. Train time: wall time "
        "of trainer.fit (validation included), plus the recorded training time of every phase a "
        "GCNPruneGAN row reused (the cached dense teacher; selection and fine-tuning of a "
        "resumed run), so each row counts the full cost of producing its model."
    )
    return lines


def _problem_lines(meta):
    lines = []
    if meta.get("failures"):
        lines += ["", "## Failed rows", ""]
        lines += [f"- {f['label']} seed {f['seed']}: {f['error']} (log: {f['log']})"
                  for f in meta["failures"]]
    if meta.get("missing"):
        lines += ["", "## Rows not run yet", ""]
        lines += [f"- {label} seed {seed}" for label, seed in meta["missing"]]
    return lines


def write_markdown(path, summary, rows, meta, plot_written):
    lines = header(meta, rows) + [""]
    lines.append(markdown_table(summary) if len(summary) else "(no finished rows)")
    if plot_written:
        lines += ["", f"![NDCG@20 against parameters]({PLOT_FILE})"]
    lines += _problem_lines(meta)
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_csv(path, summary):
    atomic_write_text(path, summary.to_csv(index=False))


def render_leaderboard(output, rows, labels, meta):
    """Write the csv, the plot and the markdown of ``rows`` into ``output``; returns the summary
    and the paths written."""
    summary = summarize(rows, labels)
    paths = {"csv": os.path.join(output, CSV_FILE), "md": os.path.join(output, MARKDOWN_FILE)}
    write_csv(paths["csv"], summary)
    plot_path = os.path.join(output, PLOT_FILE)
    title = f"{meta['settings']['dataset']}: test NDCG@20 against model size"
    plotted = len(summary) > 0 and write_plot(plot_path, summary, title)
    if plotted:
        paths["png"] = plot_path
    write_markdown(paths["md"], summary, rows, meta, plotted)
    return summary, paths
