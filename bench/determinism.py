"""Does a training phase repeat bit for bit, with torch.use_deterministic_algorithms off and on?

Three commands, each comparing runs from the same start in both modes:

* ``process``: the dense teacher of one seed trained for ``--epochs`` epochs from scratch in
  ``--processes`` fresh Python processes (each with its own ``PYTHONHASHSEED``); per mode, each
  process's weights fingerprint (SHA-256 of the state dict) and its largest weight difference
  from the mode's first process. The runs share one machine: on another CPU the kernels may
  round differently, so this says nothing across machines.
* ``finetune``: one pruned start (the cached teacher, rotated, pruned by ``--criterion`` and
  shrunk-and-perturbed, as ``prune_compare`` runs it, under the config's ``reproducibility``)
  fine-tuned for ``--epochs`` epochs, twice per mode: the first training step whose loss
  differs, whether the final weights are equal (and their largest difference), each run's
  validation score, the epoch's wall time per mode and that of a dense (teacher) training epoch,
  which the mode slows too (after one untimed epoch per mode; the modes alternate which goes
  first each round; medians).
* ``search``: the gan mask search's first epoch from the same state (the cached teacher, rotated,
  the selection phase's seeding), ``--repeats`` runs per mode (interleaved): the first step whose
  logged losses differ between runs 1 and 2, whether the student weights and keep-probabilities
  are equal, the epoch's median wall time.

``finetune`` and ``search`` need the teacher ``prune_compare`` cached for the same settings in
``--checkpoint-dir``; run it first.

    python -m bench.determinism process --dataset ml-100k --epochs 2 --processes 3
    python -m bench.determinism finetune --dataset book-crossing \\
        --seed 2021 --split-seed 2021 --checkpoint-dir bench/.work/det-split21/saved
    python -m bench.determinism search --dataset book-crossing \\
        --config-files properties/variants/book-crossing-bench5.yaml --seed 2023 \\
        --set learning_rate=0.005 ranking_loss=ccl ccl_item_norm=false \\
        --checkpoint-dir bench/.work/bxsaved
"""

import argparse
import dataclasses
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench import common

MODULE = "bench.determinism"
MODES = (False, True)  # torch.use_deterministic_algorithms off, on


# ----------------------------------------------------------------------------------- shared
def add_cached_teacher_args(parser):
    """The flags of one seed's runs plus ``--checkpoint-dir``, where the teacher is cached."""
    common.add_one_run_args(parser)
    parser.add_argument("--checkpoint-dir", required=True,
                        help="prune_compare's --checkpoint-dir, where the teacher is cached")
    common.add_threads_flag(parser)


def run_config(args, **extra):
    """The GCNPruneGAN config of these flags' seed, split and overrides, plus ``extra``."""
    from recbole_gcnprune.config import Config

    return Config("GCNPruneGAN", args.dataset, args.config_files,
                  {"seed": args.seed, "split_seed": args.split_seed, **extra,
                   **common.overrides(args)})


def cached_teacher_run(args, criterion):
    """``((train, valid, test), trainer)`` of ``criterion`` under these settings; exits with an
    error when ``prune_compare`` has not cached that teacher yet."""
    from recbole_gcnprune.quick_start import build_model_and_trainer, load_data

    config = run_config(args, prune_criterion=criterion, checkpoint_dir=args.checkpoint_dir)
    _, loaders = load_data(config)
    _, trainer = build_model_and_trainer(config, loaders[0])
    if not os.path.isfile(trainer.teacher_file):
        sys.exit(f"error: no cached teacher {common.shown_path(trainer.teacher_file)}: run "
                 "python -m bench.prune_compare with the same settings and --checkpoint-dir "
                 "first")
    return loaders, trainer


def first_difference(first, second):
    """The index of the first unequal pair of two sequences (losses per step), or None."""
    return next((i for i, (a, b) in enumerate(zip(first, second)) if a != b), None)


def largest_weight_difference(state, reference):
    """The largest absolute difference between two state dicts' floating-point tensors."""
    return max((state[k] - reference[k]).abs().max().item() for k in state
               if state[k].is_floating_point())


def cloned_state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def mode_name(deterministic):
    return "on" if deterministic else "off"


def table(args, command, title, settings, head, rows):
    """The result table: header, a settings line, a column header and rows."""
    lines = common.header_lines(f"Reproducibility of {title}, {args.dataset}", command,
                                threads_set=bool(args.threads) if "threads" in args else None)
    return "\n".join(lines + [settings, "", f"| deterministic algorithms | {head} |",
                              "|---" * (head.count("|") + 2) + "|", *rows]) + "\n"


# ---------------------------------------------------------------------------------- process
def add_process_args(p):
    common.add_one_run_args(p)
    p.add_argument("--epochs", type=int, default=2, help="teacher epochs per process")
    p.add_argument("--processes", type=int, default=3, help="fresh processes per mode")
    p.add_argument("--output", default=None)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)  # 'on|off:state file'


def train_teacher(args, deterministic, state_file):
    """Train the teacher in this process and save its state dict to ``state_file``."""
    import torch

    from recbole_gcnprune.determinism import deterministic_algorithms
    from recbole_gcnprune.quick_start import build_model_and_trainer, load_data

    config = run_config(args, epochs=args.epochs, checkpoint_dir=os.path.dirname(state_file))
    _, (train, valid, _test) = load_data(config)
    _, trainer = build_model_and_trainer(config, train)
    with deterministic_algorithms(deterministic):
        trainer._teacher(train, valid, False, False)
    torch.save(trainer.model.state_dict(), state_file)


def run_child(argv, mode, index, folder):
    """The state file of one fresh process training in ``mode``."""
    state_file = os.path.join(folder, f"{mode}-{index}", "state.pth")
    os.makedirs(os.path.dirname(state_file))
    common.run_module(MODULE, [*argv, "--child", f"{mode}:{state_file}"],
                      env={**os.environ, "PYTHONHASHSEED": str(index + 1)},
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return state_file


def fingerprint(state):
    """SHA-256 (16 digits) of a state dict's keys and bytes."""
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode() + state[key].numpy().tobytes())
    return digest.hexdigest()[:16]


def process_rows(argv, mode, processes, folder):
    """Rows of one mode: process, PYTHONHASHSEED, fingerprint, difference from the first."""
    import torch

    states = [torch.load(run_child(argv, mode, i, folder), weights_only=True)
              for i in range(processes)]
    return [f"| {mode} | {i + 1} | {i + 1} | `{fingerprint(s)}` | "
            f"{largest_weight_difference(s, states[0]):.3g} |" for i, s in enumerate(states)]


def process(args, command):
    if args.child:
        mode, state_file = args.child.split(":", 1)
        return train_teacher(args, mode == "on", state_file)
    with tempfile.TemporaryDirectory() as folder:
        rows = [row for deterministic in MODES
                for row in process_rows(args.argv, mode_name(deterministic), args.processes, folder)]
    settings = (f"Seed {args.seed}, split seed {args.split_seed}; {args.epochs} teacher epochs "
                f"from scratch per process; config files: {args.config_files or 'none'}; "
                f"overrides: {common.overrides(args) or 'none'}")
    head = ("process | PYTHONHASHSEED | weights SHA-256 | largest weight difference from "
            "process 1")
    common.publish(table(args, command, "teacher training across processes", settings, head,
                         rows), args.output, f"process_determinism_{args.dataset}.md")


# --------------------------------------------------------------------------------- finetune
def add_finetune_args(p):
    add_cached_teacher_args(p)
    p.add_argument("--criterion", default="magnitude",
                   help="selection of the pruned start (default magnitude: no search to run)")
    p.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs per run")
    p.add_argument("--dense-rounds", type=int, default=3, help="timed dense epochs per mode")
    p.add_argument("--output", default=None)


def pruned_start(trainer, train, valid, run_dir):
    """Select and prune as the pipeline does (its files under ``run_dir``); the pruned state."""
    from recbole_gcnprune.determinism import deterministic_algorithms

    trainer.run_dir = run_dir
    with deterministic_algorithms(trainer.config["reproducibility"]):
        trainer._prune(trainer._select(train, valid, False, False))
    return cloned_state(trainer.model)


def dense_epoch_seconds(trainer, train, valid, deterministic):
    """Wall time of one training epoch of the dense teacher, from its cached weights."""
    from recbole_gcnprune.determinism import deterministic_algorithms

    trainer._teacher(train, valid, False, False)
    trainer._reset_training_state(trainer.saved_model_file)
    with deterministic_algorithms(deterministic):
        begin = time.perf_counter()
        trainer._train_epoch(train, 0)
        return time.perf_counter() - begin


def finetune_run(trainer, train, valid, start, epochs, deterministic):
    """``(per-step losses, final state, validation score, epoch seconds)`` of ``epochs``
    fine-tuning epochs from ``start``, seeded and set up as ``GANPruneTrainer._finetune``."""
    from recbole_gcnprune.determinism import deterministic_algorithms

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
    return losses, cloned_state(trainer.model), float(score), seconds


def alternating(round_):
    """The two modes, off first in even rounds and on first in odd ones."""
    return MODES if round_ % 2 == 0 else MODES[::-1]


def dense_epoch_times(args, trainer, train, valid):
    """``{mode: [seconds]}`` of ``--dense-rounds`` dense epochs per mode after a warm-up."""
    dense = {mode: [] for mode in MODES}
    for round_ in range(args.dense_rounds + 1):  # round 0: untimed warm-up
        for deterministic in alternating(round_):
            seconds = dense_epoch_seconds(trainer, train, valid, deterministic)
            if round_:
                dense[deterministic].append(seconds)
    return dense


def finetune_row(deterministic, runs, dense_seconds):
    first, second = runs
    gap = largest_weight_difference(first[1], second[1])
    step = first_difference(first[0], second[0])
    seconds = statistics.median(s for r in runs for s in r[3])
    return (f"| {mode_name(deterministic)} | {'none' if step is None else step} | "
            f"{gap == 0.0} | {gap:.3g} | {first[2]:.6f} / {second[2]:.6f} | {seconds:.2f} | "
            f"{statistics.median(dense_seconds):.2f} |")


def finetune(args, command):
    common.set_threads(args.threads)
    (train, valid, _test), trainer = cached_teacher_run(args, args.criterion)
    dense = dense_epoch_times(args, trainer, train, valid)
    runs = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as run_dir:
        start = pruned_start(trainer, train, valid, run_dir)
        for round_ in range(2):
            for deterministic in alternating(round_):
                runs[deterministic].append(
                    finetune_run(trainer, train, valid, start, args.epochs, deterministic))
    settings = (f"Seed {args.seed}, split seed {args.split_seed}; teacher "
                f"`{common.shown_path(trainer.teacher_file)}`; start pruned by {args.criterion} "
                f"to widths {trainer.pruning['widths']}; {args.epochs} epochs of {len(train)} "
                "steps per run; two runs per mode")
    head = ("first differing step | weights equal | largest weight difference | "
            "valid score, runs 1 / 2 | epoch s (median) | dense epoch s (median)")
    rows = [finetune_row(mode, runs[mode], dense[mode]) for mode in MODES]
    common.publish(table(args, command, "the fine-tuning", settings, head, rows), args.output,
                   f"finetune_determinism_{args.dataset}.md")


# ----------------------------------------------------------------------------------- search
def add_search_args(p):
    add_cached_teacher_args(p)
    p.add_argument("--repeats", type=int, default=3, help="runs of the epoch per mode")
    p.add_argument("--output", default=None)


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
    return losses, cloned_state(trainer.model), probabilities, seconds


def search_row(deterministic, runs):
    import torch

    first, second = runs[0], runs[1]
    step = first_difference(first[0], second[0])
    weights = all(torch.equal(first[1][k], second[1][k]) for k in first[1])
    probabilities = all(torch.equal(first[2][k], second[2][k]) for k in first[2])
    seconds = statistics.median(r[3] for r in runs)
    return (f"| {mode_name(deterministic)} | {'none' if step is None else step} | {weights} | "
            f"{probabilities} | {seconds:.2f} |")


def search(args, command):
    common.set_threads(args.threads)
    (train, valid, _test), trainer = cached_teacher_run(args, "gan")
    runs = {mode: [] for mode in MODES}
    for _ in range(args.repeats):
        for deterministic, results in runs.items():
            results.append(search_epoch(trainer, train, valid, deterministic))
    settings = (f"Seed {args.seed}, split seed {args.split_seed}; teacher "
                f"`{common.shown_path(trainer.teacher_file)}`; {len(train)} steps per epoch; "
                "runs 1 and 2 of each mode compared")
    head = ("first differing step | student weights equal | keep-probabilities equal | "
            "epoch s (median)")
    rows = [search_row(mode, runs[mode]) for mode in MODES]
    common.publish(table(args, command, "one gan search epoch", settings, head, rows),
                   args.output, f"search_determinism_{args.dataset}.md")


# ------------------------------------------------------------------------------------- main
def parse_args(argv):
    return common.subcommand_parser(MODULE, __doc__, {
        "process": ("the dense teacher trained in fresh processes", add_process_args),
        "finetune": ("two fine-tunings of one pruned start per mode", add_finetune_args),
        "search": ("runs of one gan search epoch per mode", add_search_args),
    }).parse_args(argv)


def main(argv=None):
    common.run_subcommand(MODULE, parse_args,
                          {"process": process, "finetune": finetune, "search": search}, argv)


if __name__ == "__main__":
    main()
