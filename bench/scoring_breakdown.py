"""Where full-sort time goes, dense teacher vs pruned model: graph propagation vs scoring.

``prune_compare``'s speed column (``measure.full_sort_ms_per_1000_users``) drops the propagated
embeddings before every 1,000 users, so each 1,000 pay one whole propagation. This script splits
that figure into its two parts and adds the two regimes a user meets:

* ``propagation``: one ``model.forward()`` (every node, every layer), cached for scoring;
* ``scoring``: 1,000 users against all items from cached embeddings (serving: propagate once
  after training, then only this), in the batches RecBole's full-sort evaluation uses
  (``eval_batch_size // n_items`` users), each batch's scores released before the next;
* ``scoring + top-20``: the same plus each batch's top 20 items, as RecBole's evaluator takes them
  (a cost that does not depend on the width);
* ``per 1k, propagation each 1k``: the two together, what ``prune_compare`` reports;
* ``per 1k, one evaluation``: one propagation plus scoring every user of the dataset, per 1,000
  users: what RecBole's full-sort evaluation costs (it propagates once per ``evaluate``).

The row "dense, unaligned scoring" is the dense teacher scored as RecBole's LightGCN scores
(``user_e @ item_e.T``, output rows not padded to a cache line), in the same repeats. The rows
", int64 indices" are the same models propagating over an adjacency with int64 indices, as
before ``data.graph.csr_index_dtype`` (the CPU sparse product converts them on every call); a
note gives each pruned model's speed-up over the dense one when both have them.

Every model is timed in turn within each repeat (interleaved), medians over ``--repeats``. The
models are those ``prune_compare`` finished in ``--work-dir`` with the same settings.

``--processes N`` repeats the whole measurement in N fresh processes, one after another, and
reports the median of their medians plus each process's speed-up: on the 2-vCPU VM the same
models' speed-up ranged from 1.8x to 3.1x across processes on one thread (2026-12-05,
``results/scoring_breakdown_ml-100k_threads1.md`` as committed in 86283ad and 58f1a30), a
spread that repeats within one process cannot show.

    python bench/scoring_breakdown.py --dataset ml-100k --work-dir bench/.work/rot
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common

PARTS = ("propagation", "scoring", "scoring + top-20", "per 1k, propagation each 1k",
         "per 1k, one evaluation")
PER_PROCESS_PART = "per 1k, propagation each 1k"  # the measure of prune_compare's tables
DENSE = "dense teacher"
INT64 = ", int64 indices"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_finished_rows_args(p, "0.75,0.9")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--processes", type=int, default=1,
                   help="measure in this many fresh processes in turn; report their median")
    p.add_argument("--medians-json", default=None, help=argparse.SUPPRESS)
    common.add_threads_flag(p)
    p.add_argument("--output", default=None)
    return p.parse_args(argv)


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


def finished_rows(args):
    """``{ratio: row}`` of ``--criterion``'s rows ``prune_compare`` finished in ``--work-dir``."""
    from bench.prune_compare import row_path

    rows = {}
    for ratio in args.prune_ratios.split(","):
        path = row_path(args, args.seed, ratio, args.criterion)
        if not os.path.isfile(path):
            sys.exit(f"error: no finished row {path}: run bench/prune_compare.py first")
        with open(path) as f:
            rows[float(ratio)] = json.load(f)
    return rows


def load_split(args):
    """The seed's config, dataset, train and test loaders (RecBole's split)."""
    from bench.prune_compare import dense_config
    from recbole_gcnprune.quick_start import load_data

    config = dense_config(args, args.seed)
    dataset, (train, _valid, test) = load_data(config)
    return config, dataset, train, test


def load_model(config, train, path):
    """A model built for ``config`` with the checkpoint at ``path`` loaded into it."""
    from recbole_gcnprune.pruning.checkpoint import load_into, read_checkpoint
    from recbole_gcnprune.quick_start import build_model

    model = build_model(config, train)
    return load_into(model, read_checkpoint(path))


def pruned_label(criterion, ratio):
    """``gan 25%``: the criterion and the share of channels kept."""
    return f"{criterion} {round(100 * (1 - ratio))}%"


def load_models(args, rows, config, train):
    """``{label: model}``: the dense teacher, then each finished pruned row of the work dir."""
    dense = load_model(config, train, next(iter(rows.values()))["teacher_file"])
    models = {DENSE: dense, "dense, unaligned scoring": UnalignedScoring(dense),
              DENSE + INT64: with_int64_indices(dense)}
    for ratio, row in rows.items():
        label = pruned_label(args.criterion, ratio)
        models[label] = load_model(config, train, row["checkpoint"])
        models[label + INT64] = with_int64_indices(models[label])
    return models


def measure(models, dataset, test, repeats):
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


def render(args, command, dataset, test, medians, per_process=()):
    dense = medians[DENSE]
    lines = [f"# Full-sort time split: propagation vs scoring, {args.dataset}", "",
             f"Command: `{command}`  ", f"Date: {common.now().isoformat(timespec='seconds')}  ",
             f"Host: {common.host(threads_set=bool(args.threads))}, load {common.load_avg()}  ",
             f"Versions: {common.versions_text(common.versions())}  ",
             f"Seed {args.seed}, split seed {args.split_seed}; {dataset.user_num - 1} users, "
             f"{dataset.item_num - 1} items; {test.step} users per scoring batch (eval_batch_size "
             f"// n_items, as RecBole's evaluator); medians of {args.repeats} interleaved repeats",
             "",
             "| model | " + " | ".join(f"{part} ms" for part in PARTS) + " |",
             "|---|" + "---|" * len(PARTS)]
    for label, parts in medians.items():
        cells = [f"{parts[p]:.1f}" + ("" if parts is dense else
                                      f" ({speed_up(label, p, dense, parts, per_process):.2f}x)")
                 for p in PARTS]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    notes = ["", "In brackets: the dense teacher's time over the model's (speed-up), measured in "
             "the same repeats."]
    if per_process:
        notes[-1] = (f"Cells: medians over {len(per_process)} processes of each process's median; "
                     "in brackets: the median over the processes of each one's speed-up (the "
                     "dense teacher's time over the model's, measured in the same repeats).")
        notes += ["", f"Speed-up of '{PER_PROCESS_PART}' in each process, in order:", ""]
        notes += [f"- {label}: " + ", ".join(f"{r:.2f}x" for r in
                                             process_speed_ups(per_process, label, PER_PROCESS_PART))
                  for label in per_process[0] if label != DENSE]
    notes += int64_notes(per_process or [medians])
    return "\n".join(lines + notes) + "\n"


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


def speed_up(label, part, dense, parts, per_process):
    """Dense time over the model's: within one process, or the median of each process's."""
    if not per_process:
        return dense[part] / parts[part]
    return statistics.median(process_speed_ups(per_process, label, part))


def process_speed_ups(per_process, label, part, reference=DENSE):
    """Each process's ``reference`` (dense) time over ``label``'s for ``part``, in order."""
    return [run[reference][part] / run[label][part] for run in per_process]


def median_of_medians(per_process):
    """``{label: {part: median over processes}}``."""
    return {label: {part: statistics.median(run[label][part] for run in per_process)
                    for part in parts}
            for label, parts in per_process[0].items()}


def measure_in_processes(argv, processes):
    """Run this script ``processes`` times in fresh interpreters, one after another; their
    ``{label: {part: median ms}}`` in order."""
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(processes):
            path = os.path.join(tmp, f"medians-{i}.json")
            subprocess.run([sys.executable, os.path.abspath(__file__), *argv, "--processes", "1",
                            "--medians-json", path], check=True, stdout=subprocess.DEVNULL)
            with open(path) as f:
                runs.append(json.load(f))
    return runs


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args, command = common.parse_own_args(parse_args, __file__, argv)
    common.set_threads(args.threads)
    rows = finished_rows(args)
    config, dataset, train, test = load_split(args)
    if args.processes > 1:  # the models load in the child processes
        per_process = measure_in_processes(argv, args.processes)
        medians = median_of_medians(per_process)
    else:
        models = load_models(args, rows, config, train)
        per_process, medians = (), measure(models, dataset, test, args.repeats)
    if args.medians_json:
        common.write_json(args.medians_json, medians)
        return
    table = render(args, command, dataset, test, medians, per_process)
    common.write_text(args.output or f"bench/results/scoring_breakdown_{args.dataset}.md", table)
    print(table)


if __name__ == "__main__":
    main()
