"""Full-sort speed-up over time within one process, on one and two threads side by side.

``prune_compare``'s speed column (``measure.full_sort_ms_per_1000_users``: 1,000 users scored
against every item, propagation included) is one median of interleaved repeats (7, about 30 ms
on ml-100k, in tables before the thirty-first session; at least 30 s since). On the 2-vCPU VM the
ml-100k speed-up on two threads moved between 1.5x and 2.9x from one process to the next
(``scoring_breakdown.py --processes``). This script shows what moves: every round times the
dense teacher and each pruned model ``--repeats`` times in turn on one thread, then on two, and
keeps each model's median per thread count. Rounds follow each other for ``--rounds`` rounds, so
a change of the machine's state shows as a change over time that both thread counts and every
model meet in the same round.

The table gives, per pruned model and thread count, the median ms, percentiles of the rounds'
speed-ups, the share of rounds with a speed-up of at least ``--goal``, and the median speed-up
in fast and in slow rounds. A round is *slow* when the smallest pruned model scores slower on
two threads than on one in it: a classification that does not look at the speed-up it splits.

    python bench/speed_timeline.py --dataset ml-100k --work-dir bench/.work/ml31 \\
        --set search_learning_rate=0 search_stopping_step=2 --prune-ratios 0.75
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common
from bench.scoring_breakdown import finished_rows, load_model, load_split, pruned_label

DENSE = "dense teacher"
THREADS = (1, 2)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_one_run_args(p)
    p.add_argument("--prune-ratios", default="0.75")
    p.add_argument("--criterion", default="gan")
    p.add_argument("--work-dir", required=True, help="prune_compare's work dir with the rows")
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5, help="interleaved repeats in each round")
    p.add_argument("--goal", type=float, default=2.5, help="speed-up counted in the summary")
    p.add_argument("--output", default=None)
    return p.parse_args(argv)


def load_models(args, config, train):
    """``{label: (model, None)}``: the dense teacher, then each finished pruned row."""
    rows = finished_rows(args)
    models = {DENSE: load_model(config, train, next(iter(rows.values()))["teacher_file"])}
    for ratio, row in rows.items():
        models[pruned_label(args.criterion, ratio)] = load_model(config, train, row["checkpoint"])
    return models


def one_round(models, test, repeats):
    """``{threads: {label: median ms}}`` of one round."""
    import torch

    result = {}
    for threads in THREADS:
        torch.set_num_threads(threads)
        result[threads] = common.interleaved_full_sort_ms(
            {label: (model, test) for label, model in models.items()}, rounds=repeats)
    return result


def record(models, test, rounds, repeats):
    """One entry per round: its start (s since the first) and ``one_round``'s medians."""
    one_round(models, test, 1)  # warm-up
    start, timeline = time.perf_counter(), []
    for _ in range(rounds):
        at = time.perf_counter() - start
        timeline.append({"at": at, "ms": one_round(models, test, repeats)})
    return timeline


QUANTILES = (10, 25, 50, 75, 90)


def is_slow(entry, smallest):
    """The round's smallest pruned model is slower on two threads than on one."""
    return entry["ms"][2][smallest] > entry["ms"][1][smallest]


def quantile(values, percent):
    """The ``percent``-th percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered)) - 1))]


def speed_ups(entries, threads, label):
    return [e["ms"][threads][DENSE] / e["ms"][threads][label] for e in entries]


def summary_rows(timeline, labels, smallest, goal):
    """Per model and thread count: median ms, the rounds' speed-up percentiles, the share of
    rounds at ``goal`` or more, and the median speed-up in slow and in fast rounds."""
    slow = [e for e in timeline if is_slow(e, smallest)]
    fast = [e for e in timeline if not is_slow(e, smallest)]
    rows = []
    for label in labels[1:]:
        for threads in THREADS:
            ratios = speed_ups(timeline, threads, label)
            ms = [statistics.median(e["ms"][threads][m] for e in timeline) for m in (DENSE, label)]
            cells = [f"{ms[0]:.2f}", f"{ms[1]:.2f}"]
            cells += [f"{quantile(ratios, q):.2f}x" for q in QUANTILES]
            cells.append(f"{100 * sum(r >= goal for r in ratios) / len(ratios):.0f}%")
            cells += [f"{statistics.median(speed_ups(part, threads, label)):.2f}x ({len(part)})"
                      if part else "- (0)" for part in (fast, slow)]
            rows.append(f"| {label} | {threads} | " + " | ".join(cells) + " |")
    return rows


def slow_spells(timeline, smallest):
    """Runs of consecutive slow rounds: ``12.3 s (4)`` (start, rounds), in order."""
    spells = []
    previous_slow = False
    for entry in timeline:
        slow = is_slow(entry, smallest)
        if slow and previous_slow:
            spells[-1][1] += 1
        elif slow:
            spells.append([entry["at"], 1])
        previous_slow = slow
    return spells


def render(args, command, timeline, labels):
    smallest = labels[-1]
    spells = slow_spells(timeline, smallest)
    long_spells = [f"{at:.1f} s ({n})" for at, n in spells if n > 1]
    header = ("| model | threads | dense ms | model ms | "
              + " | ".join(f"speed-up p{q}" for q in QUANTILES)
              + f" | rounds >= {args.goal:g}x | speed-up, fast rounds (n) |"
              " speed-up, slow rounds (n) |")
    lines = [f"# Full-sort speed-up over time, one and two threads, {args.dataset}", "",
             f"Command: `{command}`  ", f"Date: {common.now().isoformat(timespec='seconds')}  ",
             f"Host: {common.host()}, load {common.load_avg()}  ",
             f"Versions: {common.versions_text(common.versions())}  ",
             f"Seed {args.seed}, split seed {args.split_seed}; {len(timeline)} rounds over "
             f"{timeline[-1]['at']:.0f} s; each round: {args.repeats} interleaved repeats of "
             "`measure.full_sort_ms_per_1000_users` per model on 1 thread, then on 2. ms: "
             "medians over the rounds of each round's median; speed-up: percentiles over the "
             "rounds of each round's dense ms over the model's. A round is slow when "
             f"'{smallest}' is slower on 2 threads than on 1 in it.", "",
             header, "|---|---|---|---|" + "---|" * (len(QUANTILES) + 3)]
    lines += summary_rows(timeline, labels, smallest, args.goal)
    lines += ["", f"Slow spells: {len(spells)}, {sum(n for _, n in spells)} rounds; those "
              "longer than one round (start, rounds): " + (", ".join(long_spells) or "none")
              + "."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args, command = common.parse_own_args(parse_args, __file__, argv)
    config, _dataset, train, test = load_split(args)
    models = load_models(args, config, train)
    timeline = record(models, test, args.rounds, args.repeats)
    table = render(args, command, timeline, list(models))
    common.write_text(args.output or f"bench/results/speed_timeline_{args.dataset}.md", table)
    print(table)


if __name__ == "__main__":
    main()
