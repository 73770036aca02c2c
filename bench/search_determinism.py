"""Is the gan mask search reproducible? Two runs of its first epoch from the same state (the
cached teacher, rotated, and the selection phase's seeding), with and without
``torch.use_deterministic_algorithms`` (the search's ``deterministic`` setting, on when the
config's ``reproducibility`` is), at torch's thread count or ``--threads``.

Reports the first training step whose logged losses differ between the two runs and whether the
final student weights and keep-probabilities are equal bit for bit, and the epoch's wall time
in each mode (interleaved, median over ``--repeats``). The teacher is the one
``prune_compare.py`` cached for these settings; run it first.

    python bench/search_determinism.py --dataset book-crossing \\
        --config-files properties/variants/book-crossing-bench5.yaml --seed 2023 \\
        --set learning_rate=0.005 ranking_loss=ccl ccl_item_norm=false \\
        --checkpoint-dir bench/.work/bxsaved
"""

import argparse
import dataclasses
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_cached_teacher_args(p)
    common.add_threads_flag(p)
    p.add_argument("--repeats", type=int, default=3, help="runs of the epoch per mode")
    p.add_argument("--output", default=None)
    return p.parse_args(argv)


def search_epoch(trainer, train, valid, deterministic):
    """One search epoch from the teacher: ``(per-step losses, student state, keep-probabilities,
    seconds)``."""
    from recbole_gcnprune.pruning.gan_search import AdversarialMaskSearch

    trainer._teacher(train, valid, False, False)
    trainer._seed_phase(train, "selection")
    trainer._rotate_teacher()
    settings = dataclasses.replace(trainer.search_settings, epochs=1, deterministic=deterministic)
    search = AdversarialMaskSearch(trainer.model, trainer.teacher_embeddings, settings)
    losses, step = [], search._step
    search._step = lambda interaction, tau: losses.append(step(interaction, tau)) or losses[-1]
    start = time.perf_counter()
    probabilities = search.run(train)
    seconds = time.perf_counter() - start
    state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    return losses, state, probabilities, seconds


def compare(first, second):
    """``(first differing step or None, weights equal, keep-probabilities equal)``."""
    import torch

    step = next((i for i, (a, b) in enumerate(zip(first[0], second[0])) if a != b), None)
    weights = all(torch.equal(first[1][k], second[1][k]) for k in first[1])
    probabilities = all(torch.equal(first[2][k], second[2][k]) for k in first[2])
    return step, weights, probabilities


def main(argv=None):
    args, command = common.parse_own_args(parse_args, __file__, argv)
    common.set_threads(args.threads)

    (train, valid, _test), _, trainer = common.cached_teacher_run(args, "gan")
    runs = {False: [], True: []}
    for _ in range(args.repeats):
        for deterministic, results in runs.items():
            results.append(search_epoch(trainer, train, valid, deterministic))
    lines = [f"# Reproducibility of one gan search epoch, {args.dataset}", "",
             f"Command: `{command}`  ", f"Date: {common.now()}  ",
             f"Host: {common.host(threads_set=args.threads)}  ",
             (f"Seed {args.seed}, split seed {args.split_seed}; teacher "
              f"`{trainer.teacher_file}`; {len(train)} steps per epoch; runs 1 and 2 of each "
              "mode compared"), "",
             ("| deterministic algorithms | first differing step | student weights equal | "
              "keep-probabilities equal | epoch s (median) |"), "|---|---|---|---|---|"]
    for deterministic, results in runs.items():
        step, weights, probabilities = compare(results[0], results[1])
        seconds = statistics.median(r[3] for r in results)
        lines.append(f"| {'on' if deterministic else 'off'} | "
                     f"{'none' if step is None else step} | {weights} | {probabilities} | "
                     f"{seconds:.2f} |")
    table = "\n".join(lines) + "\n"
    common.write_text(args.output or f"bench/results/search_determinism_{args.dataset}.md", table)
    print(table)


if __name__ == "__main__":
    main()
