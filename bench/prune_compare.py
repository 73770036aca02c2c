"""Pruning criteria and allocations side by side: GAN vs magnitude, taylor, random and
train_small, each under any budget allocation.

For each seed, one dense teacher (trained once, cached, shared by every criterion and ratio) is
pruned to each budget by each criterion, fine-tuned with the same early stopping, and tested with
RecBole's evaluator. Rows are stored as they finish (resumable); the table reports mean and std
over seeds (one data split, ``--split-seed``), the share of the teacher's NDCG@20 kept (per seed),
each criterion's NDCG@20 minus gan's on the same seeds, parameters, full-sort throughput of
pruned vs dense (measured interleaved in one process), and pipeline vs dense-training wall time.
A work dir holds the rows of one setting: rows record their overrides and config files, and a
row of other settings is refused rather than reused.

    python -m bench.prune_compare --dataset ml-100k --seeds 2020,2021,2022 --prune-ratios 0.75,0.9

A method is ``CRITERION[@ALLOCATION][+KEY=VALUE...]`` (``gan@global+adv_weight=0``: gan under
the global allocation over popularity buckets, without its adversarial term). Each row also
reports NDCG@20 on the head, torso and tail items of the test set (a third of the training
interactions each) and, for bucketed models, the widths each bucket kept (first seed).
"""

import json
import math
import os
import statistics
import sys
import time

from bench import common
from recbole_gcnprune.measure import interleaved_full_sort_ms
from recbole_gcnprune.popularity_metrics import ndcg_by_popularity
from recbole_gcnprune.quick_start import load_model
from recbole_gcnprune.version import code_version
from bench.common import CRITERIA, mean_std

DEFAULT_CRITERIA = CRITERIA[:5]
METRICS = ("ndcg@10", "ndcg@20", "recall@20", "hit@20", "mrr@20")


def parse_args(argv):
    p = common.argument_parser("bench.prune_compare", __doc__)
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--seeds", default="2020")
    p.add_argument("--split-seed", type=int, default=2020,
                   help="seed of the data split, the same for every training seed (as the "
                        "leaderboard's --split-seed: with the same --checkpoint-dir, both "
                        "share their runs)")
    p.add_argument("--prune-ratios", default="0.75,0.9")
    p.add_argument("--criteria", default=",".join(DEFAULT_CRITERIA),
                   help=f"comma-separated methods: CRITERION[@ALLOCATION][+KEY=VALUE...], "
                        f"CRITERION from {','.join(CRITERIA)}")
    p.add_argument("--reference", default="gan",
                   help="the method every other is compared with, seed by seed")
    p.add_argument("--config-files", nargs="*", default=None)
    p.add_argument("--set", nargs="*", default=[], help="extra config overrides key=value")
    p.add_argument("--work-dir", default="bench/.work")
    p.add_argument("--checkpoint-dir", default=None,
                   help="teachers and pruning runs (default WORK_DIR/saved); pass a leaderboard's "
                        "OUTPUT/checkpoints to share them with its seed-2020 rows")
    p.add_argument("--output", default=None, help="markdown table (default bench/results/...)")
    p.add_argument("--compare-to", default=None, metavar="WORK_DIR",
                   help="another work dir of the same dataset (the same runs under other "
                        "--set): add each row's NDCG@20 minus that dir's same row, same seeds")
    p.add_argument("--speed-seconds", type=float, default=None,
                   help="time the full-sort speed for at least this long (interleaved rounds; "
                        "default 30, 0 with --render-only); 0: 7 rounds only, as the earliest "
                        "tables")
    p.add_argument("--user-paired", action="store_true",
                   help="also give each method's NDCG@20 minus the reference's paired by test "
                        "user within each seed, with its standard error over the users (loads "
                        "every model once more)")
    p.add_argument("--render-only", action="store_true",
                   help="tabulate the rows already finished; train nothing new")
    args = p.parse_args(argv)
    if args.speed_seconds is None:
        args.speed_seconds = 0.0 if args.render_only else 30.0
    return args


# ------------------------------------------------------------------------------ measurements
def dense_row(args, seed, teacher_file):
    """The dense teacher's test metrics and parameters, cached in the work dir."""
    path = os.path.join(args.work_dir, args.dataset, f"dense-{seed}-split{args.split_seed}.json")
    cached = common.cached_row(args, path)
    if cached is not None:
        return cached
    from recbole_gcnprune.pruning.checkpoint import load_into, read_checkpoint
    from recbole_gcnprune.quick_start import load_data, model_and_trainer

    config = common.dense_config(args, seed)
    _, (train, _valid, test) = load_data(config)
    with model_and_trainer(config, train) as (model, trainer):
        load_into(model, read_checkpoint(teacher_file))
        result = trainer.evaluate(test, load_best_model=False)
        by_popularity = ndcg_by_popularity(model, train, test)
    row = {"seed": seed, "test": {k: float(v) for k, v in result.items()},
           "ndcg_by_popularity": by_popularity,
           "parameters": sum(p.numel() for p in model.parameters()),
           "code_version": code_version()}
    common.write_json(path, row)
    return row


def throughput(args, seed, rows, teacher_file):
    """ms per 1,000 users, dense teacher vs each pruned model, interleaved: median of 7 rounds
    or more, over at least ``--speed-seconds``."""
    from recbole_gcnprune.quick_start import load_data

    config = common.dense_config(args, seed)
    _, (train, _valid, test) = load_data(config)
    models = {"dense": load_model(config, train, teacher_file)}
    for row in rows:
        key = (row["prune_ratio"], row["criterion"])
        models[key] = load_model(config, train, row["checkpoint"])
    return interleaved_full_sort_ms({k: (m, test) for k, m in models.items()}, rounds=7,
                                           min_seconds=args.speed_seconds)


def pipeline_ratio(row, teacher_seconds):
    """Wall time of the whole pipeline over the dense training alone: (teacher training +
    selection + fine-tuning) / teacher training; train_small has no teacher, so its own training
    over the teacher's. None when the run resumed a finished phase (its time is not known)."""
    report = common.run_json(row, "report.json")
    if not teacher_seconds or "finetune_seconds" not in report:
        return None
    own = report.get("selection_seconds", 0.0) + report["finetune_seconds"]
    uses_teacher = common.method_settings(row["criterion"])["prune_criterion"] != "train_small"
    return (teacher_seconds * uses_teacher + own) / teacher_seconds


# ------------------------------------------------------------------------------------ cells
def metric_cells(rows):
    return " | ".join("%.4f ± %.4f" % mean_std([r["test"][m] for r in rows]) for m in METRICS)


def valid_cell(rows):
    return "%.4f ± %.4f" % mean_std([common.valid_ndcg(r) for r in rows])


def share_of_dense(rows, dense_ndcg):
    """Mean over the rows' seeds of NDCG@20 / the same seed's dense NDCG@20, in %."""
    return 100 * statistics.mean(r["test"]["ndcg@20"] / dense_ndcg[r["seed"]] for r in rows)


def minus_reference(sel, rows, reference):
    """Paired difference of NDCG@20 to ``reference`` at the same ratio, over the seeds both
    have."""
    ref = {(r["seed"], r["prune_ratio"]): r["test"]["ndcg@20"] for r in rows
           if r["criterion"] == reference}
    diffs = [r["test"]["ndcg@20"] - ref[(r["seed"], r["prune_ratio"])] for r in sel
             if (r["seed"], r["prune_ratio"]) in ref]
    if not diffs or sel[0]["criterion"] == reference:
        return "-"
    return "%+.4f ± %.4f (%d)" % (*mean_std(diffs), len(diffs))


def popularity_cells(sel):
    """Mean NDCG@20 on the head, torso and tail test items (rows without them: '-')."""
    found = [r["ndcg_by_popularity"] for r in sel if r.get("ndcg_by_popularity")]
    if not found:
        return "- | - | -"
    return " | ".join("%.4f" % statistics.mean(f[g] for f in found)
                      for g in ("head", "torso", "tail"))


def flops_cell(sel):
    """Full-sort FLOPs of the first seed's pruned model, in % of the dense model's (from the
    run's report)."""
    report = common.run_json(sel[0], "report.json")
    return f"{100 * report['pruned']['full_sort_flops'] / report['dense']['full_sort_flops']:.1f}"


def widths_cell(sel):
    """The first seed's kept widths per bucket, users then items (head first); '-' for a model
    without buckets."""
    widths = sel[0]["widths"]
    sides = [[widths[k] for k in sorted(widths) if k.startswith(side + ".bucket")]
             for side in ("user", "item")]
    if not any(sides):
        return "-"
    return " · ".join(f"{side[0]} {'/'.join(map(str, w))}"
                      for side, w in zip(("user", "item"), sides))


def speed_cells(ms, dense_ms):
    """Throughput is measured on the first seed only; '-' where that seed lacks the row."""
    return f"{ms:.1f} | {dense_ms / ms:.2f}x" if ms and dense_ms else "- | -"


def wall_cell(sel, teacher_seconds):
    ratios = [x for x in (pipeline_ratio(r, teacher_seconds.get(r["seed"])) for r in sel)
              if x is not None]
    return f"{statistics.mean(ratios):.2f}x" if ratios else "-"


def row_cpus(rows):
    """The CPUs the pruned rows were computed on (``unrecorded`` for rows from before they were).
    A row's CPU is where its pipeline ran; a teacher it found cached may have trained elsewhere."""
    return "; ".join(sorted({r.get("cpu", "unrecorded") for r in rows})) or "none"


# ------------------------------------------------------------------------------------ table
def discriminator_lines(rows):
    """Per gan method and ratio: the discriminator's loss (chance is 2 ln 2 = 1.386) and
    accuracy over the search, from each run folder's ``report.json``, so a table shows whether
    the adversarial game was on."""
    lines = []
    gan_rows = [r for r in rows
                if common.method_settings(r["criterion"])["prune_criterion"] == "gan"]
    for key in sorted({(r["prune_ratio"], r["criterion"]) for r in gan_rows}):
        losses, accuracies = [], []
        for row in (r for r in gan_rows if (r["prune_ratio"], r["criterion"]) == key):
            history = common.run_json(row, "report.json").get("search_history", [])
            losses.append([h["disc"] for h in history if "disc" in h])
            accuracies += [h["disc_accuracy"] for h in history[-3:] if "disc_accuracy" in h]
        losses = [x for x in losses if x]  # seeds whose report kept no search history: left out
        if losses:
            accuracy = (f", accuracy over the last 3 epochs {statistics.mean(accuracies):.2f}"
                        if accuracies else "")
            lines.append(f"- {key[1]} {1 - key[0]:.0%}: discriminator loss per search epoch, "
                         f"min {min(min(x) for x in losses):.3f}, mean of the last 10 "
                         f"{statistics.mean(v for x in losses for v in x[-10:]):.3f} "
                         f"(chance {2 * math.log(2):.3f}){accuracy}; seeds: {len(losses)}")
    return ["", *lines] if lines else []


def compare_lines(args, rows):
    """Per (ratio, criterion): NDCG@20 minus the same (seed, ratio, criterion) row of
    ``--compare-to``, paired over the seeds both have, with that dir's settings named."""
    if not args.compare_to:
        return []
    other_dir = common.shown_path(args.compare_to)
    diffs, theirs = {}, set()
    for row in rows:
        key = (row["prune_ratio"], row["criterion"])
        path = common.row_path(args, row["seed"], *key, work_dir=args.compare_to)
        if not os.path.isfile(path):
            continue
        other = common.read_json(path)
        settings = {k: other.get(k, "unrecorded") for k in ("overrides", "config_files")}
        theirs.add(json.dumps(settings, sort_keys=True))
        diffs.setdefault(key, []).append(row["test"]["ndcg@20"] - other["test"]["ndcg@20"])
    if not diffs:
        return ["", f"No row of `{other_dir}` matches this table's rows."]
    head = (f"NDCG@20 minus the same row of `{other_dir}` ({' / '.join(sorted(theirs))}), "
            "paired over seeds:")
    lines = []
    methods = args.criteria.split(",")
    for ratio, criterion in sorted(diffs, key=lambda k: (k[0], methods.index(k[1]))):
        mean, std = mean_std(diffs[(ratio, criterion)])
        lines.append(f"- {criterion} {1 - ratio:.0%}: {mean:+.4f} ± {std:.4f} "
                     f"({len(diffs[(ratio, criterion)])} seeds)")
    return ["", head, *lines]


def ndcg_per_user(config, model, test_data, k=20):
    """Every test user's NDCG@k, in the order RecBole's evaluator ranks them (the same for any
    model on ``test_data``; their mean is RecBole's NDCG@k): from the evaluator's own top-k
    hits and RecBole's NDCG."""
    from recbole.evaluator.metrics import NDCG
    from recbole.trainer import Trainer

    trainer, captured = Trainer(config, model), {}
    evaluate = trainer.evaluator.evaluate

    def keep_hits(data_struct):
        captured["topk"] = data_struct.get("rec.topk")
        return evaluate(data_struct)

    trainer.evaluator.evaluate = keep_hits
    trainer.evaluate(test_data, load_best_model=False)
    hits = captured["topk"].numpy()
    return NDCG(config).metric_info(hits[:, :-1].astype(bool), hits[:, -1])[:, k - 1]


def user_paired_lines(args, rows):
    """Per (ratio, method): NDCG@20 minus the reference's, paired by test user within each seed
    (the same users rank both models), averaged over the seeds both have, and the standard error
    of that mean over the users: how much of a difference the test users can resolve."""
    if not args.user_paired:
        return []
    from recbole_gcnprune.quick_start import load_data

    reference = {(r["seed"], r["prune_ratio"]): r for r in rows
                 if r["criterion"] == args.reference}
    tests, found, lines = {}, {}, []

    def per_user(row):
        if row["checkpoint"] not in found:
            if row["seed"] not in tests:
                config = common.dense_config(args, row["seed"])
                tests[row["seed"]] = (config, *load_data(config)[1][::2])
            config, train, test = tests[row["seed"]]
            model = load_model(config, train, row["checkpoint"])
            found[row["checkpoint"]] = ndcg_per_user(config, model, test)
        return found[row["checkpoint"]]

    methods = args.criteria.split(",")
    for ratio, criterion in sorted({(r["prune_ratio"], r["criterion"]) for r in rows},
                                   key=lambda k: (k[0], methods.index(k[1]))):
        pairs = [(r, reference[(r["seed"], ratio)]) for r in rows
                 if (r["prune_ratio"], r["criterion"]) == (ratio, criterion)
                 and (r["seed"], ratio) in reference and criterion != args.reference]
        if not pairs:
            continue
        means, variances = [], []
        for row, ref in pairs:
            mine, theirs = per_user(row), per_user(ref)
            diffs = mine - theirs
            means.append(float(diffs.mean()))
            variances.append(float(diffs.var(ddof=1)) / len(diffs))
        lines.append(f"- {criterion} {1 - ratio:.0%}: {statistics.mean(means):+.4f}, standard "
                     f"error over the test users {math.sqrt(sum(variances)) / len(means):.4f} "
                     f"({len(means)} seed{'s' * (len(means) > 1)}, {len(diffs):,} test users each)")
    head = f"NDCG@20 minus {args.reference}'s, paired by test user within each seed:"
    return ["", head, *lines] if lines else []


def header(args, rows, command):
    return [f"# Pruning criteria on {args.dataset}", "",
            f"Command: `{command}`  ", f"Date: {time.strftime('%Y-%m-%d %H:%M')}  ",
            f"Host: {common.machine()}; rows computed on: {row_cpus(rows)}  ",
            f"Code version of the rows: {common.code_versions(rows)}  ",
            f"Seeds: {args.seeds}; split seed: {args.split_seed}; "
            f"overrides: {common.overrides(args) or 'none'}; "
            f"config files: {args.config_files or 'none'}  ",
            f"Speed: seed {args.seeds.split(',')[0]}'s models, interleaved, median of 7 rounds "
            f"or more over at least {args.speed_seconds:g} s",
            "", "| model | kept | seeds | params | " + " | ".join(METRICS) +
            f" | valid ndcg@20 | % of dense NDCG@20 | NDCG@20 minus {args.reference}'s, same "
            "seeds | head ndcg@20 | torso ndcg@20 | tail ndcg@20 | widths per bucket |"
            " full-sort FLOPs, % of dense | full-sort ms/1k users | speed-up |"
            " pipeline / dense training time |",
            "|---|---|---|---|" + "---|" * len(METRICS) + "---|" * 11]


def render(args, dense_rows, rows, speed, command):
    lines = header(args, rows, command)
    dense_ndcg = {r["seed"]: r["test"]["ndcg@20"] for r in dense_rows}
    dense_ms = speed.get("dense")
    lines.append(f"| dense teacher | 100% | {len(dense_rows)} | {dense_rows[0]['parameters']:,} | "
                 f"{metric_cells(dense_rows)} | - | 100.0 | - | {popularity_cells(dense_rows)} | "
                 f"- | 100.0 | {speed_cells(dense_ms, dense_ms)} | - |")
    teacher_seconds = {r["seed"]: r["teacher_train_seconds"] for r in rows
                       if r["teacher_train_seconds"]}
    for ratio in sorted({r["prune_ratio"] for r in rows}):
        for criterion in args.criteria.split(","):
            sel = [r for r in rows if r["prune_ratio"] == ratio and r["criterion"] == criterion]
            if sel:
                lines.append(f"| {criterion} | {1 - ratio:.0%} | {len(sel)} | "
                             f"{sel[0]['parameters']:,} | {metric_cells(sel)} | "
                             f"{valid_cell(sel)} | {share_of_dense(sel, dense_ndcg):.1f} | "
                             f"{minus_reference(sel, rows, args.reference)} | "
                             f"{popularity_cells(sel)} | {widths_cell(sel)} | "
                             f"{flops_cell(sel)} | "
                             f"{speed_cells(speed.get((ratio, criterion)), dense_ms)} | "
                             f"{wall_cell(sel, teacher_seconds)} |")
    return "\n".join(lines + discriminator_lines(rows) + compare_lines(args, rows)
                     + user_paired_lines(args, rows)) + "\n"


def main(argv=None):
    args, command = common.parse_own_args(parse_args, "bench.prune_compare", argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    ratios = [float(r) for r in args.prune_ratios.split(",")]
    criteria = args.criteria.split(",")
    rows, dense_rows, speed = [], [], {}
    for seed in seeds:
        seed_rows = [common.run_row(args, seed, ratio, c) for ratio in ratios for c in criteria]
        seed_rows = [row for row in seed_rows if row is not None]
        if not seed_rows:
            continue
        teacher = next((r["teacher_file"] for r in seed_rows if r["teacher_file"]), None)
        if teacher is None:  # train_small alone: no teacher of this seed to compare with
            print(f"seed {seed}: no teacher-based row finished yet; its rows are left out")
            continue
        rows += seed_rows
        dense_rows.append(dense_row(args, seed, teacher))
        if seed == seeds[0]:
            speed = throughput(args, seed, seed_rows, teacher)
    if not dense_rows:
        sys.exit("error: no seed has a finished teacher-based row (gan, magnitude, taylor, random "
                 "or distill_small) to compare with its dense teacher: add one to --criteria; "
                 f"the finished rows are kept in {common.shown_path(args.work_dir)}")
    common.publish(render(args, dense_rows, rows, speed, command), args.output,
                   f"prune_{args.dataset}.md")


if __name__ == "__main__":
    main()
