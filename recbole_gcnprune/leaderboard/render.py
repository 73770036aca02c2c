"""Write ``leaderboard.csv`` (raw numbers) and ``leaderboard.md`` (header + formatted table).

The markdown header records what a reader needs to reproduce the table: the exact command, the
date, the commit that made the rows (when they record it), software versions, dataset, seeds, split
seed, shared overrides and the split/eval config the rows ran with (rows that differ from the
common one are named). Paths in it are relative to the output folder, as in the stored rows.

The plot needs matplotlib (``pip install -e ".[leaderboard]"``); without it the tables
are written all the same and one line says so.
"""

import json
import math
import os
import shlex
import sys
import time
from collections import Counter

from recbole_gcnprune.atomic import atomic_write_text
from recbole_gcnprune.leaderboard.store import relative_to
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
PLOT_NEEDS = 'the leaderboard plot needs matplotlib: pip install -e ".[leaderboard]"'
NO_CODE_VERSION = "rows made before code versions were recorded"
_plot_note_shown = False


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
    lines = [f"- {key}: `{value}`" for key, value in (json.loads(common) or {}).items()]
    odd = sorted({row["label"] for row in rows
                  if json.dumps(row.get("eval_config"), sort_keys=True) != common})
    if odd:
        lines.append(f"- **Rows with another split/eval config** (see rows/*.json): {', '.join(odd)}")
    return lines


def relative_path(path, output):
    """An absolute ``path`` written relative to ``output`` (posix separators); others as given."""
    if output is None or not isinstance(path, str) or not os.path.isabs(path):
        return path
    try:
        return relative_to(path, os.path.abspath(output))
    except ValueError:  # another drive (Windows)
        return path


def _relative_argument(arg, output):
    key, sep, value = arg.partition("=")
    if sep and key.startswith("-") and os.path.isabs(value):
        return f"{key}={relative_path(value, output)}"
    return relative_path(arg, output)


def portable_command(command, output):
    """``command`` with every absolute path in it (an argument, or the value of
    ``--key=/path``) written relative to ``output``; the second value says whether one was."""
    try:
        args = shlex.split(command)
    except ValueError:
        return command, False
    new = [_relative_argument(arg, output) for arg in args]
    return (shlex.join(new), True) if new != args else (command, False)


def _code_version_text(value):
    if isinstance(value, dict):
        commit = value.get("commit") or value.get("git_commit")
        if commit:
            dirty = value.get("dirty") or value.get("uncommitted")
            return f"{commit} (with uncommitted changes)" if dirty else str(commit)
        return ", ".join(f"{key} {item}" for key, item in sorted(value.items()))
    return str(value)


def code_version_line(rows):
    """Which commit made the rows: the ``code_version`` each row records (at the top level or
    among its ``versions``), counted when they differ."""
    versions = Counter()
    for row in rows:
        value = row.get("code_version") or (row.get("versions") or {}).get("code_version")
        versions[_code_version_text(value) if value else None] += 1
    known = [(text, n) for text, n in versions.most_common() if text is not None]
    if not known:
        return f"- Code version: {NO_CODE_VERSION}"
    if len(known) == 1 and not versions[None]:
        return f"- Code version: `{known[0][0]}`"
    parts = [f"`{text}` ({n} rows)" for text, n in known]
    if versions[None]:
        parts.append(f"{versions[None]} rows made before code versions were recorded")
    return f"- Code versions: {'; '.join(parts)}"


def _date_line(rows):
    finished = sorted(row["finished_at"] for row in rows if row.get("finished_at"))
    line = f"- Date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}"
    if finished:
        line += f" (rows finished {finished[0]} to {finished[-1]})"
    return line


def header(meta, rows, output=None):
    settings = meta["settings"]
    versions = ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
    overrides = " ".join(f"--{k}={relative_path(v, output)}"
                         for k, v in settings["overrides"].items()) or "(none)"
    command, moved = portable_command(meta["command"], output)
    note = " (absolute paths written relative to this folder)" if moved else ""
    config_files = [relative_path(path, output) for path in settings.get("config_files") or []]
    lines = [
        f"# Leaderboard: {settings['dataset']}",
        "",
        f"- Command: `{command}`{note}",
        _date_line(rows),
        code_version_line(rows),
        f"- Versions: {versions}",
        f"- Dataset: {settings['dataset']}",
        f"- Seeds: {', '.join(str(s) for s in meta['seeds'])} (training seeds: mean ± sample std)",
        f"- Split seed: {settings['split_seed']} (every row is tested on the same split)",
        f"- Shared overrides: {overrides}",
        f"- Config files: {', '.join(config_files) or '(none)'}",
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


def _problem_lines(meta, output=None):
    lines = []
    if meta.get("failures"):
        lines += ["", "## Failed rows", ""]
        lines += [f"- {f['label']} seed {f['seed']}: {f['error']} "
                  f"(log: {_log_name(f['log'], output)})" for f in meta["failures"]]
    if meta.get("missing"):
        lines += ["", "## Rows not run yet", ""]
        lines += [f"- {label} seed {seed}" for label, seed in meta["missing"]]
    return lines


def _log_name(log, output):
    """A failed row's log as the markdown names it: relative to the output folder."""
    if output is None or log == "none":
        return log
    try:
        return os.path.relpath(log, output).replace(os.sep, "/")
    except ValueError:
        return log


def write_markdown(path, summary, rows, meta, plot_written, output=None):
    lines = header(meta, rows, output) + [""]
    lines.append(markdown_table(summary) if len(summary) else "(no finished rows)")
    if plot_written:
        lines += ["", f"![NDCG@20 against parameters]({PLOT_FILE})"]
    lines += _problem_lines(meta, output)
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_csv(path, summary):
    atomic_write_text(path, summary.to_csv(index=False))


def _plot(plot_path, summary, title):
    """Draw the plot; False (and, once per process, one line on stderr) without matplotlib."""
    global _plot_note_shown
    try:
        from recbole_gcnprune.leaderboard.plot import write_plot
    except ImportError:
        if not _plot_note_shown:
            print(f"note: {PLOT_NEEDS}; the tables are written without it", file=sys.stderr)
            _plot_note_shown = True
        return False
    return write_plot(plot_path, summary, title)


def render_leaderboard(output, rows, labels, meta):
    """Write the csv, the plot and the markdown of ``rows`` into ``output``; returns the summary
    and the paths written."""
    summary = summarize(rows, labels)
    paths = {"csv": os.path.join(output, CSV_FILE), "md": os.path.join(output, MARKDOWN_FILE)}
    write_csv(paths["csv"], summary)
    plot_path = os.path.join(output, PLOT_FILE)
    title = f"{meta['settings']['dataset']}: test NDCG@20 against model size"
    plotted = len(summary) > 0 and _plot(plot_path, summary, title)
    if plotted:
        paths["png"] = plot_path
    write_markdown(paths["md"], summary, rows, meta, plotted, output)
    return summary, paths
