"""``leaderboard.png``: test NDCG@20 against parameters (log x), the accuracy/size frontier.

Our GAN-pruned rows are joined by a line (the pruning curve, each point labelled with the share of
channels removed; one curve per backbone loss and fine-tuning schedule, ``summary.variant``); our
other criteria and the dense model get a marker each; every baseline is a labelled grey point.
Error bars are the std over seeds. Drawn with matplotlib's Agg canvas, without pyplot, so no
display or global backend is touched.
"""

import io
import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from recbole_gcnprune.atomic import atomic_write_bytes

METRIC = "ndcg@20"
_MARKERS = {"none": "*", "magnitude": "s", "taylor": "^", "random": "X", "train_small": "D",
           "distill_small": "d"}
_EXTRA_MARKERS = "vP<>hp"
# C3, black and dark violet: the pruning curves; grey (C7): the baselines
_COLORS = ("C0", "C1", "C2", "C4", "C5", "C6", "C8", "C9", "navy", "teal", "maroon", "gold")
_CURVE_COLORS = {"bpr": "C3", "ccl": "black", "ccl-usernorm": "darkviolet"}
_OTHER_CURVE_COLORS = ("deeppink", "darkgoldenrod", "darkcyan", "olive")


def _point(line):
    x = max(float(line["parameters_mean"]), 1.0)
    y = float(line[f"{METRIC}_mean"])
    std = line[f"{METRIC}_std"]
    return x, y, 0.0 if math.isnan(std) else float(std)


def _ratio_text(line):
    ratio = line["prune_ratio"]
    return "" if ratio is None or (isinstance(ratio, float) and math.isnan(ratio)) else (
        f"{float(ratio):.0%}")


def _draw_baselines(ax, lines):
    for _, line in lines.iterrows():
        x, y, std = _point(line)
        ax.errorbar(x, y, yerr=std, fmt="o", color="0.45", capsize=2)
        ax.annotate(line["model"], (x, y), xytext=(4, 4), textcoords="offset points", fontsize=7)


def _variant_suffix(variant):
    """Legend suffix naming a non-default variant (backbone loss, fine-tuning schedule)."""
    return "" if variant in (None, "bpr") else f", {variant}"


def _draw_pruning_curves(ax, lines):
    others = iter(_OTHER_CURVE_COLORS)
    for variant, group in lines.groupby("variant", sort=True):
        points = sorted((_point(line) + (_ratio_text(line),) for _, line in group.iterrows()))
        xs, ys, stds, texts = zip(*points)
        color = _CURVE_COLORS.get(variant) or next(others, "C3")
        ax.errorbar(xs, ys, yerr=stds, fmt="-o", color=color, capsize=2,
                    label=f"GCNPruneGAN{_variant_suffix(variant)} (gan; % pruned)")
        for x, y, text in zip(xs, ys, texts):
            ax.annotate(text, (x, y), xytext=(4, -10), textcoords="offset points", fontsize=7,
                        color=color)


def _draw_other_criteria(ax, lines):
    """One marker and colour per criterion; its ratio goes in the legend when it has one ratio,
    beside each point otherwise."""
    extra = iter(_EXTRA_MARKERS)
    groups = lines.groupby(["variant", "prune_criterion"], sort=True)
    for index, ((variant, criterion), group) in enumerate(groups):
        marker = _MARKERS.get(criterion) or next(extra, "o")
        color = _COLORS[index % len(_COLORS)]
        ratios = sorted({_ratio_text(line) for _, line in group.iterrows()})
        name = ("dense" if criterion == "none" else criterion) + _variant_suffix(variant)
        if len(ratios) == 1 and ratios[0]:
            name = f"{name}, {ratios[0]} pruned"
        for i, (_, line) in enumerate(group.iterrows()):
            x, y, std = _point(line)
            ax.errorbar(x, y, yerr=std, fmt=marker, color=color, capsize=2, markersize=8,
                        label=f"GCNPruneGAN ({name})" if i == 0 else None)
            if len(ratios) > 1:
                ax.annotate(_ratio_text(line), (x, y), xytext=(4, 4),
                            textcoords="offset points", fontsize=7, color=color)


def write_plot(path, summary, title):
    """Draw the frontier of ``summary`` to ``path``; False when no row has NDCG@20."""
    column = f"{METRIC}_mean"
    if column not in summary or summary[column].isna().all():
        return False
    lines = summary[summary[column].notna()]
    ours = lines["prune_criterion"].notna()
    gan = lines["prune_criterion"] == "gan"
    figure = Figure(figsize=(10, 5.5), dpi=120)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    _draw_baselines(ax, lines[~ours])
    _draw_pruning_curves(ax, lines[gan])
    _draw_other_criteria(ax, lines[ours & ~gan])
    ax.set_xscale("log")
    left, right = ax.get_xlim()
    ax.set_xlim(left, right * 5)  # room for the labels of the largest models
    ax.set_xlabel("parameters (log scale)")
    ax.set_ylabel("test NDCG@20 (mean ± std over seeds)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return True
