"""Full-sort speed of every leaderboard row, measured side by side in one process.

The leaderboard measures each row's full-sort time in the row's own process, at whatever load the
machine had then, so its time column mixes conditions. This script re-times every finished row
of a leaderboard folder together: each model is rebuilt at its row's shape (RecBole's builder
with the row's config; a pruned GCNPruneGAN row cut to the widths its report records) and timed
with ``measure.full_sort_ms_per_1000_users`` (propagation included, RecBole's evaluation
batches), every model in turn within each round, medians over ``--repeats`` rounds. Speed does
not depend on the trained weights, so fresh weights are used, on the CPU (row checkpoints are
not kept); Pop first sees one training batch, which sets the item counts it scores by.

    python -m bench.leaderboard_speed --output results/leaderboard/ml-100k --threads 1
"""

import glob
import os
import sys

from bench import common
from recbole_gcnprune.leaderboard.store import read_row
from recbole_gcnprune.measure import interleaved_full_sort_ms


def parse_args(argv):
    p = common.argument_parser("bench.leaderboard_speed", __doc__)
    p.add_argument("--output", required=True, help="a leaderboard folder (with rows/)")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--table", default=None,
                   help="markdown output (default bench/results/leaderboard_speed_<folder>.md)")
    common.add_threads_flag(p)
    return p.parse_args(argv)


def finished_rows(folder):
    """The ``status: ok`` rows of a leaderboard folder, one per label (lowest seed)."""
    rows = {}
    for path in sorted(glob.glob(os.path.join(folder, "rows", "*.json"))):
        row = read_row(path)  # paths resolved against the folder
        if row.get("status") == "ok" and row["label"] not in rows:
            rows[row["label"]] = row
    if not rows:
        sys.exit(f"error: no finished rows in {common.shown_path(folder)}/rows: run the "
                 "leaderboard first")
    return rows


def cpu_row_config(row):
    """The RecBole config a leaderboard row ran with, moved to the CPU."""
    from recbole_gcnprune.leaderboard.row import build_config

    settings = dict(row["settings"], overrides={**row["settings"]["overrides"], "use_gpu": False})
    return build_config(dict(row, settings=settings))


def row_model(row, data_cache):
    """``(model, test_data)``: the row's model at its trained shape, fresh weights, eval mode."""
    from recbole_gcnprune.pruning.surgery import prune_to_widths
    from recbole_gcnprune.quick_start import build_model, load_data

    config = cpu_row_config(row)
    key = (config["dataset"], config["MODEL_TYPE"], config["eval_batch_size"],
           str(config["train_neg_sample_args"]))
    if key not in data_cache:
        data_cache[key] = load_data(config)[1]
    train, _valid, test = data_cache[key]
    model = build_model(config, train)
    widths = ((row.get("report") or {}).get("pruned") or {}).get("widths")
    if widths:
        prune_to_widths(model, widths)
    return ready_to_score(model, train, test), test


def ready_to_score(model, train, test):
    """``model`` in eval mode, able to score: a model whose scores come from training statistics
    (Pop's item counts) first sees one training batch's loss."""
    import torch
    from recbole.data.interaction import Interaction

    users = Interaction({test._dataset.uid_field: torch.tensor([1])})
    with torch.no_grad():
        try:
            model.eval().full_sort_predict(users)
        except (AttributeError, TypeError):
            model.train().calculate_loss(next(iter(train)))
            model.eval().full_sort_predict(users)
        except NotImplementedError:
            pass  # scored pair by pair: the measure handles it
    return model


def render(args, command, rows, medians):
    reference = "LightGCN" if "LightGCN" in medians else next(iter(medians))
    title = ("Full-sort speed of the leaderboard rows, side by side: "
             + common.shown_path(args.output))
    lines = common.header_lines(title, command, threads_set=bool(args.threads))
    lines += [f"Medians of {args.repeats} interleaved rounds; fresh weights at each row's shape",
              "", f"| model | parameters | full-sort ms / 1k users | {reference}'s time over the "
              "row's | leaderboard column (own process, the measure of the day it ran) |",
              "|---|---|---|---|---|"]
    for label, ms in medians.items():
        row = rows[label]
        lines.append(f"| {label} | {row['parameters']:,} | {ms:.1f} | "
                     f"{medians[reference] / ms:.2f}x | {row['full_sort_ms_per_1000_users']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    args, command = common.parse_own_args(parse_args, "bench.leaderboard_speed", argv)
    common.set_threads(args.threads)
    rows = finished_rows(args.output)
    data_cache = {}
    models = {label: row_model(row, data_cache) for label, row in rows.items()}
    medians = interleaved_full_sort_ms(models, args.repeats)
    name = os.path.basename(os.path.normpath(args.output))
    common.publish(render(args, command, rows, medians), args.table,
                   f"leaderboard_speed_{name}.md")


if __name__ == "__main__":
    main()
