"""Is the fine-tuning reproducible? The same pruned start (the cached teacher, rotated, pruned by
``--criterion`` and shrunk-and-perturbed, as ``prune_compare.py`` runs it) fine-tuned for
``--epochs`` epochs, twice with and twice without ``torch.use_deterministic_algorithms`` (on in
every training phase when the config's ``reproducibility`` is), at torch's thread count or
``--threads``.

Reports the first training step whose loss differs between the two runs of a mode, whether the
final weights are equal bit for bit (and their largest difference), each run's validation score,
and the epoch's wall time in each mode, with that of a dense (teacher) training epoch, which the
mode slows too (after one untimed epoch per mode; the modes alternate which goes first each
round; medians). The start is built under the config's ``reproducibility``, as the pipeline
builds it. The teacher is the one ``prune_compare.py`` cached for these settings; run it first.

    python bench/finetune_determinism.py --dataset book-crossing \\
        --config-files properties/variants/book-crossing-recommended.yaml \\
        --seed 2021 --split-seed 2021 --checkpoint-dir bench/.work/det-split21/saved
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common
from recbole_gcnprune.determinism import deterministic_algorithms


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_cached_teacher_args(p)
    common.add_threads_flag(p)
    p.add_argument("--criterion", default="magnitude",
                   help="selection of the pruned start (default magnitude: no search to run)")
    p.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs per run")
    p.add_argument("--dense-rounds", type=int, default=3, help="timed dense epochs per mode")
    p.add_argument("--output", default=None)
    return p.parse_args(argv)


def pruned_start(trainer, train, valid, run_dir):
    """Select and prune as the pipeline does (its files under ``run_dir``); the pruned state."""
    trainer.run_dir = run_dir
    with deterministic_algorithms(trainer.config["reproducibility"]):
        trainer._prune(trainer._select(train, valid, False, False))
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def dense_epoch_seconds(trainer, train, valid, deterministic):
    """Wall time of one training epoch of the dense teacher, from its cached weights."""
    trainer._teacher(train, valid, False, False)
    trainer._reset_training_state(trainer.saved_model_file)
    with deterministic_algorithms(deterministic):
        begin = time.perf_counter()
        trainer._train_epoch(train, 0)
        return time.perf_counter() - begin


def finetune_run(trainer, train, valid, start, epochs, deterministic):
    """``(per-step losses, final state, validation score, epoch seconds)`` of ``epochs``
    fine-tuning epochs from ``start``, seeded and set up as ``GANPruneTrainer._finetune``."""
    trainer.model.load_state_dict(start)
    losses, seconds = [], []

    def recorded_loss(interaction):
        loss = loss_of(interaction)
        losses.append(loss.item())
        return loss

    with deterministic_algorithms(deterministic):  # as fit runs the phase: its set-up included
        trainer._start_finetune(train)
        loss_of = (trainer._distilled_loss if trainer.distillation is not None
                   else trainer.model.calculate_loss)
        for epoch in range(epochs):
            begin = time.perf_counter()
            trainer._train_epoch(train, epoch, loss_func=recorded_loss)
            seconds.append(time.perf_counter() - begin)
        score, _ = trainer._valid_epoch(valid)
    trainer.distillation = None
    state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    return losses, state, float(score), seconds


def compare(first, second):
    """``(first differing step or None, weights equal, largest weight difference)``."""
    step = next((i for i, (a, b) in enumerate(zip(first[0], second[0])) if a != b), None)
    gap = common.largest_weight_difference(first[1], second[1])
    return step, gap == 0.0, gap


def alternating(round_):
    """The two modes, off first in even rounds and on first in odd ones."""
    return (False, True) if round_ % 2 == 0 else (True, False)


def main(argv=None):
    args, command = common.parse_own_args(parse_args, __file__, argv)
    common.set_threads(args.threads)

    (train, valid, _test), _, trainer = common.cached_teacher_run(args, args.criterion)
    dense = {False: [], True: []}
    for round_ in range(args.dense_rounds + 1):  # round 0: untimed warm-up
        for deterministic in alternating(round_):
            seconds = dense_epoch_seconds(trainer, train, valid, deterministic)
            if round_:
                dense[deterministic].append(seconds)
    runs = {False: [], True: []}
    with tempfile.TemporaryDirectory() as run_dir:
        start = pruned_start(trainer, train, valid, run_dir)
        for round_ in range(2):
            for deterministic in alternating(round_):
                runs[deterministic].append(
                    finetune_run(trainer, train, valid, start, args.epochs, deterministic))
    lines = [f"# Reproducibility of the fine-tuning, {args.dataset}", "",
             f"Command: `{command}`  ", f"Date: {common.now()}  ",
             f"Host: {common.host(threads_set=args.threads)}  ",
             (f"Seed {args.seed}, split seed {args.split_seed}; teacher `{trainer.teacher_file}`; "
              f"start pruned by {args.criterion} to widths {trainer.pruning['widths']}; "
              f"{args.epochs} epochs of {len(train)} steps per run; two runs per mode"), "",
             ("| deterministic algorithms | first differing step | weights equal | "
              "largest weight difference | valid score, runs 1 / 2 | epoch s (median) | "
              "dense epoch s (median) |"),
             "|---|---|---|---|---|---|---|"]
    for deterministic, results in runs.items():
        step, equal, gap = compare(results[0], results[1])
        seconds = statistics.median(s for r in results for s in r[3])
        lines.append(f"| {'on' if deterministic else 'off'} | "
                     f"{'none' if step is None else step} | {equal} | {gap:.3g} | "
                     f"{results[0][2]:.6f} / {results[1][2]:.6f} | {seconds:.2f} | "
                     f"{statistics.median(dense[deterministic]):.2f} |")
    table = "\n".join(lines) + "\n"
    common.write_text(args.output or f"bench/results/finetune_determinism_{args.dataset}.md",
                      table)
    print(table)


if __name__ == "__main__":
    main()
