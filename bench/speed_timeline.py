"""Full-sort speed-up over time within one process, on one and two threads side by side.

``prune_compare``'s speed column (``measure.full_sort_ms_per_1000_users``: 1,000 users scored
against every item, propagation included) is one median of interleaved repeats (7, about 30 ms
on ml-100k, in tables before the thirty-first session; at least 30 s since). On the 2-vCPU VM the
ml-100k speed-up on two threads moved between 1.5x and 2.5x from one process to the next
(five processes, ``bench/RESULTS.md``, "Speed across processes"). This script shows what moves: every round times the
dense teacher and each pruned model ``--repeats`` times in turn on one thread, then on two, and
keeps each model's median per thread count. Rounds follow each other for ``--rounds`` rounds, so
a change of the machine's state shows as a change over time that both thread counts and every
model meet in the same round.

The table gives, per pruned model and thread count, the median ms in fast and in slow rounds,
percentiles of the rounds' speed-ups, the share of rounds with a speed-up of at least
``--goal``, and the median speed-up in fast and in slow rounds; then the slow spells, the steal
time (``/proc/stat``), the process's CPU time per wall second on two threads (2.0: both
threads ran throughout, as the guest kernel saw it) and the load average the rounds met. A round is *slow* when the
narrowest pruned model scores slower on two threads than on one in it: a classification that
does not look at the speed-up it splits. The OpenMP variables set (``OMP_WAIT_POLICY``, ...) are
in the header.

    python bench/speed_timeline.py --dataset ml-100k --work-dir bench/.work/ml31 \\
        --set search_learning_rate=0 search_stopping_step=2 --prune-ratios 0.75
"""

import argparse
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common
from bench.scoring_breakdown import finished_rows, load_model, load_split, pruned_label

DENSE = "dense teacher"
THREADS = (1, 2)
QUANTILES = (10, 25, 50, 75, 90)
STEAL_FIELD = 8  # /proc/stat "cpu" line: user nice system idle iowait irq softirq steal


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_finished_rows_args(p, "0.75")
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5, help="interleaved repeats in each round")
    p.add_argument("--goal", type=float, default=2.5, help="speed-up counted in the summary")
    p.add_argument("--output", default=None)
    args = p.parse_args(argv)
    if args.rounds < 1 or args.repeats < 1:
        p.error("--rounds and --repeats must be at least 1")
    return args


def load_models(args, config, train):
    """``({label: model}, narrowest label)``: the dense teacher, then each finished pruned row;
    the narrowest is the row of the largest prune ratio."""
    rows = finished_rows(args)
    models = {DENSE: load_model(config, train, next(iter(rows.values()))["teacher_file"])}
    for ratio, row in rows.items():
        models[pruned_label(args.criterion, ratio)] = load_model(config, train, row["checkpoint"])
    return models, pruned_label(args.criterion, max(rows))


def steal_jiffies():
    """The machine's steal time so far (all CPUs, in jiffies); None where /proc/stat lacks it."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[STEAL_FIELD])
    except (OSError, IndexError, ValueError):
        return None


def one_round(models, repeats):
    """``({threads: {label: median ms}}, cpu_per_wall)`` of one round of ``models``
    (``{label: (model, loader)}``): ``cpu_per_wall`` is the process's CPU time over the wall time
    of its part on the most threads (2.0: both threads ran throughout)."""
    import torch

    result = {}
    for threads in THREADS:
        torch.set_num_threads(threads)
        wall, cpu = time.perf_counter(), time.process_time()
        result[threads] = common.interleaved_full_sort_ms(models, rounds=repeats)
    return result, (time.process_time() - cpu) / (time.perf_counter() - wall)


def record(models, test, rounds, repeats):
    """One entry per round: its start (s since the first), ``one_round``'s medians and CPU time
    per wall second, the steal time during it and the 1-minute load average after it."""
    models = {label: (model, test) for label, model in models.items()}
    one_round(models, 1)  # warm-up
    start, timeline = time.perf_counter(), []
    for _ in range(rounds):
        at, steal = time.perf_counter() - start, steal_jiffies()
        ms, cpu = one_round(models, repeats)
        after = steal_jiffies()
        timeline.append({"at": at, "ms": ms, "cpu": cpu, "load": os.getloadavg()[0],
                         "steal": None if steal is None or after is None else after - steal})
    return timeline


def is_slow(entry, narrowest):
    """The round's narrowest model is slower on more threads than on fewer."""
    few, many = THREADS
    return entry["ms"][many][narrowest] > entry["ms"][few][narrowest]


def quantile(values, percent):
    """The ``percent``-th percentile of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def speed_ups(entries, threads, label):
    """Each round's dense ms over ``label``'s on ``threads`` threads."""
    return [e["ms"][threads][DENSE] / e["ms"][threads][label] for e in entries]


def median_ms(entries, threads, label):
    return f"{statistics.median(e['ms'][threads][label] for e in entries):.2f}" if entries else "-"


def model_rows(timeline, label, fast, slow, goal):
    """One table row per thread count for ``label``."""
    rows = []
    for threads in THREADS:
        ratios = speed_ups(timeline, threads, label)
        cells = [" / ".join(median_ms(part, threads, m) for part in (fast, slow))
                 for m in (DENSE, label)]
        cells += [f"{quantile(ratios, q):.2f}x" for q in QUANTILES]
        cells.append(f"{100 * sum(r >= goal for r in ratios) / len(ratios):.0f}%")
        cells += [f"{statistics.median(speed_ups(part, threads, label)):.2f}x ({len(part)})"
                  if part else "- (0)" for part in (fast, slow)]
        rows.append(f"| {label} | {threads} | " + " | ".join(cells) + " |")
    return rows


def slow_spells(timeline, slow_flags):
    """``[start s, rounds]`` of each run of consecutive slow rounds, in order."""
    spells, previous_slow = [], False
    for entry, slow in zip(timeline, slow_flags):
        if slow and previous_slow:
            spells[-1][1] += 1
        elif slow:
            spells.append([entry["at"], 1])
        previous_slow = slow
    return spells


def machine_line(fast, slow, timeline):
    """Steal time and CPU time per wall second on two threads in fast and slow rounds, and the
    load average's range."""
    def mean(part, key, digits):
        known = [e[key] for e in part if e[key] is not None]
        return f"{statistics.mean(known):.{digits}f}" if known else "-"

    loads = [e["load"] for e in timeline]
    return (f"Steal time (jiffies per round, mean): {mean(fast, 'steal', 2)} in fast rounds, "
            f"{mean(slow, 'steal', 2)} in slow ones. CPU seconds per wall second of the process "
            f"on {THREADS[-1]} threads (mean): {mean(fast, 'cpu', 2)} in fast rounds, "
            f"{mean(slow, 'cpu', 2)} in slow ones. 1-minute load average "
            f"{min(loads):.2f}-{max(loads):.2f}.")


def thread_settings():
    """The OpenMP/MKL variables set in the environment, or 'none'."""
    keys = sorted(k for k in os.environ if k.startswith(("OMP_", "MKL_", "GOMP_", "KMP_")))
    return ", ".join(f"{k}={os.environ[k]}" for k in keys) or "none"


def render(args, command, timeline, labels, narrowest):
    slow_flags = [is_slow(e, narrowest) for e in timeline]
    slow = [e for e, flag in zip(timeline, slow_flags) if flag]
    fast = [e for e, flag in zip(timeline, slow_flags) if not flag]
    spells = slow_spells(timeline, slow_flags)
    long_spells = [f"{at:.1f} s ({n})" for at, n in spells if n > 1]
    lines = [f"# Full-sort speed-up over time, one and two threads, {args.dataset}", "",
             f"Command: `{command}`  ", f"Date: {common.now().isoformat(timespec='seconds')}  ",
             f"Host: {common.host()}, load {common.load_avg()}; thread variables: "
             f"{thread_settings()}  ",
             f"Versions: {common.versions_text(common.versions())}  ",
             f"Seed {args.seed}, split seed {args.split_seed}; {len(timeline)} rounds over "
             f"{timeline[-1]['at']:.0f} s; each round: {args.repeats} interleaved repeats of "
             "`measure.full_sort_ms_per_1000_users` per model on 1 thread, then on 2. ms: "
             "medians over the fast / slow rounds of each round's median; speed-up: percentiles "
             "over all rounds of each round's dense ms over the model's. A round is slow when "
             f"'{narrowest}' is slower on 2 threads than on 1 in it.", "",
             "| model | threads | dense ms, fast / slow | model ms, fast / slow | "
             + " | ".join(f"speed-up p{q}" for q in QUANTILES)
             + f" | rounds >= {args.goal:g}x | speed-up, fast rounds (n) |"
             " speed-up, slow rounds (n) |",
             "|---|---|---|---|" + "---|" * (len(QUANTILES) + 3)]
    for label in labels[1:]:
        lines += model_rows(timeline, label, fast, slow, args.goal)
    lines += ["", f"Slow spells: {len(spells)}, {len(slow)} rounds; those longer than one round "
              "(start, rounds): " + (", ".join(long_spells) or "none") + ".", "",
              machine_line(fast, slow, timeline)]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args, command = common.parse_own_args(parse_args, __file__, argv)
    config, _dataset, train, test = load_split(args)
    models, narrowest = load_models(args, config, train)
    timeline = record(models, test, args.rounds, args.repeats)
    table = render(args, command, timeline, list(models), narrowest)
    common.write_text(args.output or f"bench/results/speed_timeline_{args.dataset}.md", table)
    print(table)


if __name__ == "__main__":
    main()
