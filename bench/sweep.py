"""One config key swept on validation: the pruning pipeline at each value, the choice by the
best validation NDCG@20 of the fine-tuning, with the test NDCG@20 beside it (not used to choose).

Each value runs ``prune_compare``'s pipeline (same teacher per seed, cached) in a work dir of its
own, ``WORK_DIR/KEY-VALUE``, so rows are resumable and can be re-rendered with
``--render-only``:

    python -m bench.sweep --dataset ml-100k --key distill_top_items --values 32,400 --seeds 2020
"""

import argparse
import os
import statistics

from bench import common


def parse_args(argv):
    p = common.argument_parser("bench.sweep", __doc__)
    p.add_argument("--key", required=True, help="the config key swept")
    p.add_argument("--values", required=True, help="comma-separated values of --key")
    p.add_argument("--criterion", default="gan", choices=common.CRITERIA)
    p.add_argument("--prune-ratio", default="0.75")
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--seeds", default="2020")
    p.add_argument("--split-seed", type=int, default=2020)
    p.add_argument("--config-files", nargs="*", default=None)
    p.add_argument("--set", nargs="*", default=[], help="overrides shared by every value")
    p.add_argument("--work-dir", default="bench/.work/sweep")
    p.add_argument("--checkpoint-dir", default=None, help="as prune_compare's")
    p.add_argument("--output", default=None, help="markdown table (default bench/results/...)")
    p.add_argument("--render-only", action="store_true", help="tabulate finished rows only")
    return p.parse_args(argv)


def value_args(args, value):
    """The settings of one value's rows: its own work dir and the key set to it."""
    return argparse.Namespace(**{**vars(args),
                                 "work_dir": os.path.join(args.work_dir, f"{args.key}-{value}"),
                                 "set": [*args.set, f"{args.key}={value}"]})


def value_rows(args, value):
    """The finished rows of ``value`` (one per seed), running the missing ones."""
    sub, ratio = value_args(args, value), float(args.prune_ratio)
    rows = [common.run_row(sub, int(seed), ratio, args.criterion)
            for seed in args.seeds.split(",")]
    return [r for r in rows if r is not None]


def cell(values):
    if not values:
        return "-"
    mean, std = common.mean_std(values)
    return f"{mean:.4f} ± {std:.4f}" if len(values) > 1 else f"{mean:.4f}"


def render(args, results, command):
    valid = {v: [common.valid_ndcg(r) for r in rows] for v, rows in results.items()}
    best = max((v for v in valid if valid[v]), key=lambda v: statistics.mean(valid[v]),
               default=None)
    lines = common.header_lines(f"`{args.key}` swept on validation, {args.dataset}", command)
    lines += [f"Criterion {args.criterion}, prune ratio {args.prune_ratio}; seeds {args.seeds}, "
              f"split seed {args.split_seed}; shared overrides: {common.overrides(args) or 'none'}; "
              f"config files: {args.config_files or 'none'}", "",
              f"| {args.key} | seeds | valid NDCG@20 (chooses) | test NDCG@20 | fine-tuning s |",
              "|---|---|---|---|---|"]
    for value, rows in results.items():
        mark = " **(best valid)**" if value == best else ""
        seconds = [r["finetune_seconds"] for r in rows if r.get("finetune_seconds")]
        lines.append(f"| {value}{mark} | {len(rows)} | {cell(valid[value])} | "
                     f"{cell([r['test']['ndcg@20'] for r in rows])} | "
                     f"{f'{statistics.median(seconds):.0f}' if seconds else '-'} |")
    lines += ["", "Fine-tuning s: median wall seconds of the rows' fine-tuning, each in its own "
              "process under the load of its time (other jobs may have shared the CPUs): rough "
              "figures."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args, command = common.parse_own_args(parse_args, "bench.sweep", argv)
    results = {value: value_rows(args, value) for value in args.values.split(",")}
    common.publish(render(args, results, command), args.output,
                   f"sweep_{args.key}_{args.dataset}.md")


if __name__ == "__main__":
    main()
