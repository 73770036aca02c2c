"""What makes a propagation cold: one ``forward()`` of the dense teacher and of a pruned model,
timed right after different kinds of other work.

``scoring_breakdown`` times each model's propagation after the other model's turn, and there the
16-channel ml-100k model's propagation took about twice its hot-loop time. This script times it
(and the dense teacher's) after each of these, interleaved in every repeat, medians over
``--repeats``:

* the same model's own propagation (hot);
* the other model's propagation and scoring of every user (as in ``scoring_breakdown``);
* a write over 8 MB or 64 MB of memory (evicts the caches, no other computation);
* ``time.sleep`` for 5 ms (touches no memory: the cost of coming back from idle).

    python bench/cold_propagation.py --dataset ml-100k --work-dir bench/.work/ml23 \
        --set search_learning_rate=0 search_stopping_step=2 --prune-ratios 0.75 --threads 2
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common, scoring_breakdown

SLEEP_SECONDS = 0.005
WRITE_MIB = (8, 64)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_finished_rows_args(p, "0.75", "one ratio: the pruned model's")
    p.add_argument("--repeats", type=int, default=61)
    common.add_threads_flag(p)
    p.add_argument("--output", default=None)
    args = p.parse_args(argv)
    if "," in args.prune_ratios:
        p.error(f"--prune-ratios takes one ratio here, got {args.prune_ratios}: pass e.g. 0.75")
    return args


def preludes(models, users, batch_size):
    """``{name: fn(model)}``: the work done just before a model's timed propagation."""
    import torch

    buffers = {mib: torch.zeros(mib * 2**20 // 4) for mib in WRITE_MIB}
    dense, pruned = models

    def other_model_turn(model):
        other = pruned if model is dense else dense
        scoring_breakdown.propagate_and_cache(other)
        scoring_breakdown.score_users(other, users, batch_size)

    found = {"hot (its own propagation just before)": scoring_breakdown.propagate_and_cache,
             "after the other model's propagation and scoring": other_model_turn}
    for mib, buffer in buffers.items():
        found[f"after writing {mib} MiB"] = lambda _model, b=buffer: b.add_(1.0)
    found[f"after a {SLEEP_SECONDS * 1000:.0f} ms sleep"] = lambda _model: time.sleep(SLEEP_SECONDS)
    return found


def measure(models, users, batch_size, repeats):
    """``{prelude: [dense median us, pruned median us]}``, everything interleaved."""
    import torch

    before = preludes(models, users, batch_size)
    times = {name: [[] for _ in models] for name in before}
    with torch.no_grad():
        for model in models:
            model.eval()
        for _ in range(repeats):
            for name, prelude in before.items():
                for i, model in enumerate(models):
                    prelude(model)
                    start = time.perf_counter()
                    scoring_breakdown.propagate_and_cache(model)
                    times[name][i].append((time.perf_counter() - start) * 1e6)
    return {name: [statistics.median(t) for t in pair] for name, pair in times.items()}


def render(args, command, label, medians):
    lines = [f"# Cold propagation, {args.dataset}", "", f"Command: `{command}`  ",
             f"Date: {common.now().isoformat(timespec='seconds')}  ",
             f"Host: {common.host(threads_set=bool(args.threads))}, load {common.load_avg()}  ",
             f"Versions: {common.versions_text(common.versions())}  ",
             f"Seed {args.seed}, split seed {args.split_seed}; one `forward()` (every node, "
             f"every layer), medians of {args.repeats} interleaved repeats", "",
             f"| timed right after | dense teacher us | {label} us | speed-up |",
             "|---|---|---|---|"]
    for name, (dense, pruned) in medians.items():
        lines.append(f"| {name} | {dense:.0f} | {pruned:.0f} | {dense / pruned:.2f}x |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args, command = common.parse_own_args(parse_args, __file__, argv)
    common.set_threads(args.threads)
    import torch

    (ratio, row), = scoring_breakdown.finished_rows(args).items()
    config, dataset, train, test = scoring_breakdown.load_split(args)
    label = scoring_breakdown.pruned_label(args.criterion, ratio)
    models = (scoring_breakdown.load_model(config, train, row["teacher_file"]),
              scoring_breakdown.load_model(config, train, row["checkpoint"]))
    users = torch.arange(1, dataset.user_num)
    medians = measure(models, users, test.step, args.repeats)
    table = render(args, command, label, medians)
    threads = f"_threads{args.threads}" if args.threads else ""
    common.write_text(args.output or f"bench/results/cold_propagation_{args.dataset}{threads}.md",
                      table)
    print(table)


if __name__ == "__main__":
    main()
