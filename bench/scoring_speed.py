"""Full-sort scoring speed of the dense teacher vs the pruned models prune_compare finished.

``prune_compare``'s speed column is ``measure.full_sort_ms_per_1000_users``: 1,000 users scored
against every item, one graph propagation included, a median of interleaved repeats. The
models here are the seed's dense teacher and ``--criterion``'s rows that ``prune_compare``
finished in ``--work-dir`` at ``--prune-ratios``, under the same settings. Two commands:

``breakdown``: where the time goes, split into its parts and the two regimes a user meets:

* ``propagation``: one ``model.forward()`` (every node, every layer), cached for scoring;
* ``scoring``: 1,000 users against all items from cached embeddings (serving: propagate once
  after training, then only this), in the batches RecBole's full-sort evaluation uses
  (``eval_batch_size // n_items`` users), each batch's scores released before the next;
* ``scoring + top-20``: the same plus each batch's top 20 items, as RecBole's evaluator takes them;
* ``per 1k, propagation each 1k``: the two together, what ``prune_compare`` reports;
* ``per 1k, one evaluation``: one propagation plus scoring every user of the dataset, per 1,000
  users: what RecBole's full-sort evaluation costs (it propagates once per ``evaluate``).

It adds the dense teacher scored as RecBole's LightGCN scores (``user_e @ item_e.T``, output rows
not padded to a cache line) and every model propagating over int64 indices (as before
``data.graph.csr_index_dtype``). Every model is timed in turn within each repeat, medians over
``--repeats``. ``--processes N`` repeats the whole measurement in N fresh processes, one after
another, and reports the median of their medians and each process's speed-up: on a virtual
2-CPU host the same models' speed-up has ranged from 1.8x to 3.1x from one process to the next,
a spread that repeats within one process cannot show.

``timeline``: the speed-up over time within one process, on one and two threads. Every round
times each model ``--repeats`` times in turn on one thread, then on two, keeping each model's
median per thread count, for ``--rounds`` rounds; a change of the machine's state shows as a
change over time that both thread counts and every model meet in the same round. A round is
*slow* when the narrowest pruned model scores slower on two threads than on one in it, a split
that does not look at the speed-up it splits. The table gives per model and thread count the
median ms in fast and slow rounds, percentiles of the rounds' speed-ups, the share at or above
``--goal``, the speed-up in fast and slow rounds; then the slow spells, the steal time
(``/proc/stat``), the process's CPU time per wall second on two threads (2.0: both threads ran
throughout, as the kernel saw it) and the load average. The OpenMP variables set are in the
header.

    python -m bench.scoring_speed breakdown --dataset ml-100k --work-dir bench/.work/rot
    python -m bench.scoring_speed timeline --dataset ml-100k --work-dir bench/.work/ml31 \\
        --set search_learning_rate=0 search_stopping_step=2 --prune-ratios 0.75
"""

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench import common
from recbole_gcnprune.measure import interleaved_full_sort_ms
from recbole_gcnprune.quick_start import load_model

MODULE = "bench.scoring_speed"
DENSE = "dense teacher"


# ----------------------------------------------------------------------- models of the rows
def add_finished_rows_args(parser, prune_ratios):
    """:func:`common.add_one_run_args` plus ``--prune-ratios --criterion --work-dir``: the
    pruned rows ``prune_compare`` finished."""
    common.add_one_run_args(parser)
    parser.add_argument("--prune-ratios", default=prune_ratios)
    parser.add_argument("--criterion", default="gan")
    parser.add_argument("--work-dir", required=True,
                        help="prune_compare's work dir with the rows")


def finished_rows(args):
    """``{ratio: row}`` of ``--criterion``'s rows ``prune_compare`` finished in ``--work-dir``."""
    rows = {}
    for ratio in args.prune_ratios.split(","):
        path = common.row_path(args, args.seed, ratio, args.criterion)
        if not os.path.isfile(path):
            sys.exit(f"error: no finished row {common.shown_path(path)}: run "
                     "python -m bench.prune_compare first")
        rows[float(ratio)] = common.read_json(path)
    return rows


def load_split(args):
    """The seed's config, dataset, train and test loaders (RecBole's split)."""
    from recbole_gcnprune.quick_start import load_data

    config = common.dense_config(args, args.seed)
    dataset, (train, _valid, test) = load_data(config)
    return config, dataset, train, test


def pruned_label(criterion, ratio):
    """``gan 25%``: the criterion and the share of channels kept."""
    return f"{criterion} {round(100 * (1 - ratio))}%"


def load_models(args, rows, config, train):
    """``{label: model}``: the dense teacher, then each finished pruned row."""
    models = {DENSE: load_model(config, train,
                                            next(iter(rows.values()))["teacher_file"])}
    for ratio, row in rows.items():
        models[pruned_label(args.criterion, ratio)] = load_model(
            config, train, row["checkpoint"])
    return models


# -------------------------------------------------------------------------------- breakdown
PARTS = ("propagation", "scoring", "scoring + top-20", "per 1k, propagation each 1k",
         "per 1k, one evaluation")
PER_PROCESS_PART = "per 1k, propagation each 1k"  # the measure of prune_compare's tables
INT64 = ", int64 indices"


def add_breakdown_args(p):
    add_finished_rows_args(p, "0.75,0.9")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--processes", type=int, default=1,
                   help="measure in this many fresh processes in turn; report their median")
    p.add_argument("--medians-json", default=None, help=argparse.SUPPRESS)
    common.add_threads_flag(p)
    p.add_argument("--output", default=None)


def timed_ms(fn, device="cpu"):
    """Milliseconds ``fn()`` takes."""
    from recbole_gcnprune.measure import Stopwatch

    with Stopwatch(device) as clock:
        fn()
    return clock.seconds * 1000.0


def score_users(model, users, batch_size, top_k=0):
    """``model.score_users`` on ``users`` in batches (cached propagation), each batch reduced to
    its ``top_k`` items when ``top_k`` is set."""
    for start in range(0, len(users), batch_size):
        scores = model.score_users(users[start : start + batch_size])
        if top_k:
            scores.topk(top_k, dim=1)


def with_int64_indices(model):
    """A copy of ``model`` whose adjacency has int64 indices (the "before" of
    ``data.graph.csr_index_dtype``); same products to the bit."""
    import copy

    import torch

    clone = copy.deepcopy(model)
    a = model.adjacency
    clone.adjacency = torch.sparse_csr_tensor(a.crow_indices().long(), a.col_indices().long(),
                                              a.values(), size=a.shape)
    return clone


class UnalignedScoring:
    """A model scored as RecBole's LightGCN scores: ``user_e @ item_e.T`` with the item axis as
    it is (unaligned output rows); the "before" of ``model.layers.dot_scores``."""

    def __init__(self, model):
        self.model = model

    def eval(self):
        self.model.eval()

    def drop_cached_embeddings(self):
        self.model.drop_cached_embeddings()

    def cache_embeddings(self):
        self.model.cache_embeddings()

    def score_users(self, users):
        return self.model.restore_user_e[users] @ self.model.restore_item_e.T


def breakdown_models(args, rows, config, train):
    """:func:`load_models`, the dense teacher also scored unaligned, every model also with int64
    indices."""
    models = load_models(args, rows, config, train)
    variants = {DENSE: models[DENSE], "dense, unaligned scoring": UnalignedScoring(models[DENSE]),
                DENSE + INT64: with_int64_indices(models[DENSE])}
    for label, model in list(models.items())[1:]:
        variants[label] = model
        variants[label + INT64] = with_int64_indices(model)
    return variants


def propagate_and_cache(model):
    model.drop_cached_embeddings()
    model.cache_embeddings()


def one_repeat(model, all_users, users_1k, batch_size):
    """Milliseconds of each part for ``model`` (eval mode, no grad)."""
    propagation = timed_ms(lambda: propagate_and_cache(model))
    scoring = timed_ms(lambda: score_users(model, users_1k, batch_size))
    ranking = timed_ms(lambda: score_users(model, users_1k, batch_size, 20))
    scoring_all = timed_ms(lambda: score_users(model, all_users, batch_size))
    return {
        "propagation": propagation,
        "scoring": scoring,
        "scoring + top-20": ranking,
        "per 1k, propagation each 1k": propagation + scoring,
        "per 1k, one evaluation": (propagation + scoring_all) * 1000.0 / len(all_users),
    }


def measure_parts(models, dataset, test, repeats):
    """``{label: {part: median ms}}``, every model timed in turn within each repeat."""
    import torch

    from recbole_gcnprune.measure import benchmark_users, evaluation_batch_users

    batch_size = evaluation_batch_users(test)
    all_users = torch.arange(1, dataset.user_num)
    users_1k = benchmark_users(dataset)
    times = {label: {part: [] for part in PARTS} for label in models}
    with torch.no_grad():
        for model in models.values():
            model.eval()
            one_repeat(model, all_users, users_1k, batch_size)  # warm-up
        for _ in range(repeats):
            for label, model in models.items():
                for part, ms in one_repeat(model, all_users, users_1k, batch_size).items():
                    times[label][part].append(ms)
    return {label: {part: statistics.median(v) for part, v in parts.items()}
            for label, parts in times.items()}


def measure_in_processes(argv, processes):
    """Run this command ``processes`` times in fresh interpreters, one after another; their
    ``{label: {part: median ms}}`` in order."""
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(processes):
            path = os.path.join(tmp, f"medians-{i}.json")
            common.run_module(MODULE, [*argv, "--processes", "1", "--medians-json", path],
                              stdout=subprocess.DEVNULL)
            runs.append(common.read_json(path))
    return runs


def process_speed_ups(per_process, label, part, reference=DENSE):
    """Each process's ``reference`` (dense) time over ``label``'s for ``part``, in order."""
    return [run[reference][part] / run[label][part] for run in per_process]


def median_of_medians(per_process):
    """``{label: {part: median over processes}}``."""
    return {label: {part: statistics.median(run[label][part] for run in per_process)
                    for part in parts}
            for label, parts in per_process[0].items()}


def speed_up(label, part, dense, parts, per_process):
    """Dense time over the model's: within one process, or the median of each process's."""
    if not per_process:
        return dense[part] / parts[part]
    return statistics.median(process_speed_ups(per_process, label, part))


def int64_notes(runs):
    """Each pruned model's speed-up over the dense teacher when both have int64 indices."""
    labels = [label for label in runs[0] if label.endswith(INT64) and label != DENSE + INT64]
    lines = ["", f"'{PER_PROCESS_PART}' with int64 indices on both sides (before "
             "csr_index_dtype): the model's speed-up over the dense teacher, median over "
             "processes (each process's in brackets):", ""]
    for label in labels:
        ratios = process_speed_ups(runs, label, PER_PROCESS_PART, reference=DENSE + INT64)
        lines.append(f"- {label.removesuffix(INT64)}: {statistics.median(ratios):.2f}x ("
                     + ", ".join(f"{r:.2f}x" for r in ratios) + ")")
    return lines


def process_notes(per_process):
    """How the cells read, and with several processes each one's speed-up."""
    if not per_process:
        return ["", "In brackets: the dense teacher's time over the model's (speed-up), "
                "measured in the same repeats."]
    notes = ["", f"Cells: medians over {len(per_process)} processes of each process's median; "
             "in brackets: the median over the processes of each one's speed-up (the "
             "dense teacher's time over the model's, measured in the same repeats).",
             "", f"Speed-up of '{PER_PROCESS_PART}' in each process, in order:", ""]
    notes += [f"- {label}: " + ", ".join(f"{r:.2f}x" for r in
                                         process_speed_ups(per_process, label, PER_PROCESS_PART))
              for label in per_process[0] if label != DENSE]
    return notes


def render_breakdown(args, command, dataset, test, medians, per_process=()):
    dense = medians[DENSE]
    lines = common.header_lines(f"Full-sort time split: propagation vs scoring, {args.dataset}",
                                command, threads_set=bool(args.threads))
    lines += [f"Seed {args.seed}, split seed {args.split_seed}; {dataset.user_num - 1} users, "
              f"{dataset.item_num - 1} items; {test.step} users per scoring batch "
              "(eval_batch_size // n_items, as RecBole's evaluator); medians of "
              f"{args.repeats} interleaved repeats", "",
              "| model | " + " | ".join(f"{part} ms" for part in PARTS) + " |",
              "|---|" + "---|" * len(PARTS)]
    for label, parts in medians.items():
        cells = [f"{parts[p]:.1f}" + ("" if parts is dense else
                                      f" ({speed_up(label, p, dense, parts, per_process):.2f}x)")
                 for p in PARTS]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    notes = process_notes(per_process) + int64_notes(per_process or [medians])
    return "\n".join(lines + notes) + "\n"


def breakdown(args, command):
    common.set_threads(args.threads)
    rows = finished_rows(args)
    config, dataset, train, test = load_split(args)
    if args.processes > 1:  # the models load in the child processes
        per_process = measure_in_processes(args.argv, args.processes)
        medians = median_of_medians(per_process)
    else:
        models = breakdown_models(args, rows, config, train)
        per_process, medians = (), measure_parts(models, dataset, test, args.repeats)
    if args.medians_json:
        common.write_json(args.medians_json, medians)
        return
    common.publish(render_breakdown(args, command, dataset, test, medians, per_process),
                   args.output, f"scoring_breakdown_{args.dataset}.md")


# --------------------------------------------------------------------------------- timeline
THREADS = (1, 2)
QUANTILES = (10, 25, 50, 75, 90)
STEAL_FIELD = 8  # /proc/stat "cpu" line: user nice system idle iowait irq softirq steal


def add_timeline_args(p):
    add_finished_rows_args(p, "0.75")
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5, help="interleaved repeats in each round")
    p.add_argument("--goal", type=float, default=2.5, help="speed-up counted in the summary")
    p.add_argument("--output", default=None)


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
        result[threads] = interleaved_full_sort_ms(models, rounds=repeats)
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
    def mean(part, key):
        known = [e[key] for e in part if e[key] is not None]
        return f"{statistics.mean(known):.2f}" if known else "-"

    loads = [e["load"] for e in timeline]
    return (f"Steal time (jiffies per round, mean): {mean(fast, 'steal')} in fast rounds, "
            f"{mean(slow, 'steal')} in slow ones. CPU seconds per wall second of the process "
            f"on {THREADS[-1]} threads (mean): {mean(fast, 'cpu')} in fast rounds, "
            f"{mean(slow, 'cpu')} in slow ones. 1-minute load average "
            f"{min(loads):.2f}-{max(loads):.2f}.")


def thread_settings():
    """The OpenMP/MKL variables set in the environment, or 'none'."""
    keys = sorted(k for k in os.environ if k.startswith(("OMP_", "MKL_", "GOMP_", "KMP_")))
    return ", ".join(f"{k}={os.environ[k]}" for k in keys) or "none"


def render_timeline(args, command, timeline, labels, narrowest):
    slow_flags = [is_slow(e, narrowest) for e in timeline]
    slow = [e for e, flag in zip(timeline, slow_flags) if flag]
    fast = [e for e, flag in zip(timeline, slow_flags) if not flag]
    spells = slow_spells(timeline, slow_flags)
    long_spells = [f"{at:.1f} s ({n})" for at, n in spells if n > 1]
    lines = common.header_lines(f"Full-sort speed-up over time, one and two threads, "
                                f"{args.dataset}", command)
    lines += [f"Thread variables: {thread_settings()}  ",
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


def timeline(args, command):
    if args.rounds < 1 or args.repeats < 1:
        sys.exit("error: --rounds and --repeats must be at least 1")
    rows = finished_rows(args)
    config, _dataset, train, test = load_split(args)
    models = load_models(args, rows, config, train)
    entries = record(models, test, args.rounds, args.repeats)
    narrowest = pruned_label(args.criterion, max(rows))
    common.publish(render_timeline(args, command, entries, list(models), narrowest),
                   args.output, f"speed_timeline_{args.dataset}.md")


# ------------------------------------------------------------------------------------- main
def parse_args(argv):
    return common.subcommand_parser(MODULE, __doc__, {
        "breakdown": ("where the full-sort time goes: propagation, scoring, top-20, per "
                      "evaluation; optionally over fresh processes", add_breakdown_args),
        "timeline": ("the speed-up over time in one process, on one and two threads",
                     add_timeline_args),
    }).parse_args(argv)


def main(argv=None):
    common.run_subcommand(MODULE, parse_args, {"breakdown": breakdown, "timeline": timeline},
                          argv)


if __name__ == "__main__":
    main()
