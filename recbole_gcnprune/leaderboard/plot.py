"""``leaderboard.png``: test NDCG@20 against parameters (log x), the accuracy/size frontier.

What is drawn, so that the picture stays legible however many rows the table holds:

* one setting of our model (:func:`plotted_setting`: the one with the most kept fractions, then the
  most pruning criteria): one curve per pruning criterion through its kept fractions, each
  starting at the setting's dense model (a star); the top axis names the kept fractions;
* RecBole's models (every row that is not ours) as grey points, each labelled beside it; a label
  that would overlap another label or a marker is moved, and joined to its point by a thin line;
* axes fitted to the data, with a margin: a model far smaller than the rest (Pop: one parameter)
  sits at the left edge with its size and score in its label, rather than stretching both axes
  over ranges where nothing else lies.

Rows of other settings stay in the table (the figure says how many). At most eight legend
entries: the dense model, six criteria and RecBole's models. Error bars are the std over seeds.
Drawn with matplotlib's Agg canvas, without pyplot, so no display or global backend is touched.
"""

import io
import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator
from matplotlib.transforms import Bbox

from recbole_gcnprune.atomic import atomic_write_bytes

METRIC = "ndcg@20"
MAX_LEGEND = 8
CRITERIA_ORDER = ("gan", "magnitude", "taylor", "random", "train_small", "distill_small")
_STYLE = {  # criterion: (colour, marker)
    "gan": ("C3", "o"),
    "magnitude": ("C0", "s"),
    "taylor": ("C2", "^"),
    "random": ("C1", "X"),
    "train_small": ("C4", "D"),
    "distill_small": ("C9", "v"),
}
_OTHER_STYLES = (("C6", "P"), ("C8", "h"), ("C5", "p"), ("olive", "<"))
_BASELINE_COLOR = "0.35"
_OFF_SCALE_DECADES = 2.5  # this far below the median model's size: drawn at the left edge
_DODGE_DECADES = 0.007    # criteria at one kept fraction share x: spread them this much
_LABEL_FONT = 8


def _number(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _point(line):
    """``(parameters, NDCG@20 mean, std)`` of a summary line (std 0 with one seed)."""
    std = _number(line[f"{METRIC}_std"])
    return max(float(line["parameters_mean"]), 1.0), float(line[f"{METRIC}_mean"]), std or 0.0


def _kept(line):
    ratio = _number(line["prune_ratio"])
    return 1.0 if ratio is None else 1.0 - ratio


def _loss(variant):
    """A variant's backbone loss (``ccl-usernorm, ft-eval 1`` -> ``ccl-usernorm``): the part a
    dense row's variant names."""
    return str(variant).split(",")[0].strip()


def plotted_setting(ours):
    """The variant whose curves are drawn: most distinct kept fractions among its pruned rows,
    then most criteria, then one with a dense row of its loss; ties by name. None without
    pruned rows."""
    pruned = ours[ours["prune_criterion"] != "none"]
    if not len(pruned):
        return None
    dense_losses = {_loss(v) for v in ours[ours["prune_criterion"] == "none"]["variant"]}

    def rank(item):
        variant, group = item
        fractions = {round(_kept(line), 6) for _, line in group.iterrows()}
        return (-len(fractions), -group["prune_criterion"].nunique(),
                _loss(variant) not in dense_losses, str(variant))

    return min(pruned.groupby("variant", sort=True), key=rank)[0]


def _criteria(group):
    present = list(dict.fromkeys(group["prune_criterion"]))
    known = [c for c in CRITERIA_ORDER if c in present]
    return known + sorted(c for c in present if c not in CRITERIA_ORDER)


class _Parts:
    """What :func:`draw` shows: the plotted setting's dense line and pruned lines, the baselines
    (``(name, x, y, std)``), and how many lines of ours are left to the table."""

    def __init__(self, lines):
        ours_mask = lines["prune_criterion"].notna()
        ours = lines[ours_mask]
        self.baselines = [(str(line["model"]), *_point(line))
                          for _, line in lines[~ours_mask].iterrows()]
        self.setting = plotted_setting(ours) if len(ours) else None
        self.group = ours[(ours["variant"] == self.setting) & (ours["prune_criterion"] != "none")]
        denses = ours[ours["prune_criterion"] == "none"]
        if self.setting is not None:
            denses = denses[denses["variant"].map(_loss) == _loss(self.setting)]
        self.dense = denses.iloc[0] if len(denses) else None
        criteria = _criteria(self.group)
        room = MAX_LEGEND - (self.dense is not None) - bool(self.baselines)
        self.criteria, self.criteria_left_out = criteria[:room], criteria[room:]
        drawn = self.group[self.group["prune_criterion"].isin(self.criteria)]
        self.others = len(ours) - len(drawn) - (self.dense is not None)

    def our_points(self):
        points = [_point(line) for _, line in self.group.iterrows()
                  if line["prune_criterion"] in self.criteria]
        return points + ([_point(self.dense)] if self.dense is not None else [])


def _limits(parts):
    """``(x limits, y limits, cut)``: log-x limits over every point no more than
    ``_OFF_SCALE_DECADES`` below the median model's size (``cut``), y limits over those points'
    error bars, each with a margin."""
    points = parts.our_points() + [p[1:] for p in parts.baselines]
    logs = sorted(math.log10(x) for x, _, _ in points)
    cut = 10 ** (logs[len(logs) // 2] - _OFF_SCALE_DECADES)
    core = [p for p in points if p[0] >= cut] or points
    low, high = math.log10(min(p[0] for p in core)), math.log10(max(p[0] for p in core))
    span = max(high - low, 0.3)
    x_limits = 10 ** (low - 0.1 * span), 10 ** (high + 0.2 * span)
    bottom, top = min(y - s for _, y, s in core), max(y + s for _, y, s in core)
    margin = 0.08 * (top - bottom) if top > bottom else max(abs(top) * 0.1, 1e-3)
    return x_limits, (bottom - margin, top + margin), cut


def _size_text(n):
    """``1``, ``850``, ``42k``, ``1.1M`` (tick labels and off-scale labels)."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            value = n / scale
            return f"{value:.{0 if value >= 10 or value == int(value) else 1}f}{suffix}"
    return f"{n:.0f}"


def _size_ticks(ax, left, right):
    """Ticks at 1, 2 and 5 times each power of ten inside the limits, labelled 20k, 50k, 1M."""
    ticks = [m * 10 ** e for e in range(int(math.floor(math.log10(left))),
                                        int(math.ceil(math.log10(right))) + 1)
             for m in (1, 2, 5) if left <= m * 10 ** e <= right]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.set_xticks(ticks, labels=[_size_text(t) for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())


def _draw_dense(ax, dense):
    x, y, std = _point(dense)
    ax.errorbar([x], [y], yerr=[std], fmt="*", color="black", markersize=13, capsize=2, zorder=5,
                label="GCNPruneGAN dense (100% kept)")
    return [(x, y, std)]


def _draw_curves(ax, parts):
    """One curve per drawn criterion, from the dense point (when there is one) through the kept
    fractions; returns the (x, y, std) of every marker drawn."""
    start = [_point(parts.dense)] if parts.dense is not None else []
    extra, markers, n = iter(_OTHER_STYLES), [], len(parts.criteria)
    for index, criterion in enumerate(parts.criteria):
        lines = parts.group[parts.group["prune_criterion"] == criterion]
        shift = 10 ** (_DODGE_DECADES * (index - (n - 1) / 2))
        pruned = sorted((_point(line) for _, line in lines.iterrows()), reverse=True)
        xs, ys, stds = zip(*(start + [(x * shift, y, s) for x, y, s in pruned]))
        color, marker = _STYLE.get(criterion) or next(extra, ("C7", "o"))
        gan = criterion == "gan"
        ax.errorbar(xs, ys, yerr=stds, color=color, marker=marker, markersize=6, capsize=2,
                    linewidth=2.2 if gan else 1.3, elinewidth=0.8, zorder=4 if gan else 3,
                    label=criterion)
        markers += list(zip(xs, ys, stds))[len(start):]
    return markers


def _draw_baselines(ax, parts, left, y_limits, cut):
    """Grey points; a model below ``cut`` at the left edge (its y clipped into the axes).
    Returns the ``(label text, x, y, std)`` to place."""
    labels, legend = [], "RecBole models"
    on_scale = [b for b in parts.baselines if b[1] >= cut]
    off_scale = [b for b in parts.baselines if b[1] < cut]
    for name, x, y, std in on_scale + off_scale:  # the legend's marker: a round one if any
        if x >= cut:
            ax.errorbar(x, y, yerr=std, fmt="o", color=_BASELINE_COLOR, markersize=6, capsize=2,
                        zorder=3, label=legend)
            labels.append((name, x, y, std))
        else:
            shown = min(max(y, y_limits[0]), y_limits[1])
            size = f"{_size_text(x)} parameter" + ("" if round(x) == 1 else "s")
            text = f"{name} ({size}" + (")" if shown == y else f", NDCG@20 {y:.4f})")
            ax.errorbar(left, shown, yerr=std if shown == y else None, fmt="<",
                        color=_BASELINE_COLOR, markersize=7, capsize=2, clip_on=False, zorder=3,
                        label=legend)
            labels.append((text, left, shown, std if shown == y else 0.0))
        legend = None
    return labels


def _overlaps(box, others, pad=1.5):
    return any(box.x0 < o.x1 + pad and o.x0 < box.x1 + pad and box.y0 < o.y1 + pad
               and o.y0 < box.y1 + pad for o in others)


class _Labeller:
    """Places point labels (in display pixels) so that none overlaps another label, a marker or an
    error bar, or leaves the axes: first to the right of the point, up or down in half-line steps,
    then on either side; a label moved off its point's height gets a thin line to it."""

    def __init__(self, figure, ax, markers):
        self.figure, self.ax = figure, ax
        self.renderer = figure.canvas.get_renderer()
        half, cap = 5.0 * figure.dpi / 72.0, 2.5 * figure.dpi / 72.0
        self.taken = []
        for x, y, std in markers:
            px, py = ax.transData.transform((x, y))
            self.taken.append(Bbox([[px - half, py - half], [px + half, py + half]]))
            if std:
                low, high = (ax.transData.transform((x, y + d))[1] for d in (-std, std))
                self.taken.append(Bbox([[px - cap, low], [px + cap, high]]))
        self.area = ax.get_window_extent(self.renderer)

    @staticmethod
    def _candidates(px, py, width, height, gap):
        """``(cost, side, dx, dy, box)`` of every spot tried: right of the point or (dearer) left,
        at 1 to 4.5 gaps, up or down in half-line steps; cost grows with the distance."""
        step = height * 0.5
        for k in range(0, 41):
            for dy in ((0.0,) if k == 0 else (-k * step, k * step)):
                for dx in (gap, 2 * gap, 3 * gap, 4.5 * gap):
                    for side in (1, -1):
                        x0 = px + dx if side == 1 else px - dx - width
                        box = Bbox([[x0, py + dy - height / 2],
                                    [x0 + width, py + dy + height / 2]])
                        cost = abs(dy) + 0.7 * (dx - gap) + (3 * height if side == -1 else 0)
                        yield cost, side, dx, dy, box

    def _inside(self, box):
        a = self.area
        return box.x0 >= a.x0 and box.x1 <= a.x1 and box.y0 >= a.y0 and box.y1 <= a.y1

    def place(self, text, x, y):
        px, py = self.ax.transData.transform((x, y))
        probe = self.ax.text(0, 0, text, fontsize=_LABEL_FONT)
        extent = probe.get_window_extent(self.renderer)
        probe.remove()
        gap = 7.0 * self.figure.dpi / 72.0
        candidates = sorted(self._candidates(px, py, extent.width, extent.height, gap),
                            key=lambda c: c[0])
        free = [c for c in candidates if self._inside(c[4]) and not _overlaps(c[4], self.taken)]
        _, side, dx, dy, box = (free or candidates)[0]
        self.taken.append(box)
        to_points = 72.0 / self.figure.dpi
        moved = abs(dy) > 0.6 * extent.height or dx > gap
        self.ax.annotate(
            text, (x, y), xytext=(side * dx * to_points, dy * to_points),
            textcoords="offset points", fontsize=_LABEL_FONT, color="0.15",
            ha="left" if side == 1 else "right", va="center", zorder=6, annotation_clip=False,
            arrowprops={"arrowstyle": "-", "color": "0.55", "lw": 0.6,
                        "shrinkA": 1, "shrinkB": 4} if moved else None)


def _kept_axis(ax, parts):
    """Top axis: each kept fraction of the curves, at its parameter count."""
    ticks = {}
    lines = [line for _, line in parts.group.iterrows()
             if line["prune_criterion"] in parts.criteria]
    for line in lines + ([parts.dense] if parts.dense is not None else []):
        ticks.setdefault(round(_kept(line), 6), float(line["parameters_mean"]))
    top = ax.secondary_xaxis("top")
    positions = sorted(ticks.items(), key=lambda item: item[1])
    top.set_xticks([x for _, x in positions], labels=[f"{k:.0%}" for k, _ in positions])
    top.xaxis.set_minor_locator(NullLocator())
    top.tick_params(labelsize=8)
    top.set_xlabel("channels kept (GCNPruneGAN curves)", fontsize=8)


def _notes(parts):
    notes = []
    if parts.setting is not None:
        notes.append(f"GCNPruneGAN curves: variant {parts.setting}")
    if parts.others > 0:
        notes.append(f"{parts.others} GCNPruneGAN lines of other variants are in the table only")
    if parts.criteria_left_out:
        notes.append("criteria in the table only: " + ", ".join(parts.criteria_left_out))
    return notes


def draw(summary, title):
    """The figure of ``summary`` (lines with ``ndcg@20_mean``); None when no line has it."""
    column = f"{METRIC}_mean"
    if column not in summary or summary[column].isna().all():
        return None
    parts = _Parts(summary[summary[column].notna()])
    (left, right), y_limits, cut = _limits(parts)

    figure = Figure(figsize=(10, 5.6), dpi=110)
    FigureCanvasAgg(figure)
    ax = figure.add_axes((0.08, 0.11, 0.62, 0.70))
    markers = _draw_dense(ax, parts.dense) if parts.dense is not None else []
    markers += _draw_curves(ax, parts)
    ax.set_xscale("log")
    ax.set_xlim(left, right)
    ax.set_ylim(*y_limits)
    labels = _draw_baselines(ax, parts, left, y_limits, cut)
    markers += [label[1:] for label in labels]
    _size_ticks(ax, left, right)
    ax.set_xlabel("parameters (log scale)")
    ax.set_ylabel("test NDCG@20 (mean ± std over seeds)")
    ax.grid(True, which="major", alpha=0.35)
    if parts.criteria or parts.dense is not None:
        _kept_axis(ax, parts)
    figure.suptitle(title, fontsize=12, x=0.39, y=0.985)
    notes = _notes(parts)
    if notes:
        figure.text(0.39, 0.93, "; ".join(notes), ha="center", va="top", fontsize=8, color="0.3")
    handles, names = ax.get_legend_handles_labels()
    if handles:
        figure.legend(handles, names, loc="upper left", bbox_to_anchor=(0.72, 0.81),
                      fontsize=8.5, frameon=False)
    figure.canvas.draw()
    labeller = _Labeller(figure, ax, markers)
    for text, x, y, _ in sorted(labels, key=lambda label: -label[2]):
        labeller.place(text, x, y)
    return figure


def write_plot(path, summary, title):
    """Draw the frontier of ``summary`` to ``path``; False when no row has NDCG@20."""
    figure = draw(summary, title)
    if figure is None:
        return False
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return True
