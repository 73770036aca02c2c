"""Where one fine-tuning epoch of a pruned model goes, side by side in one process: the training
epoch with the teacher's ranking distillation and without it, and the validation on RecBole's
loader (batches rebuilt at every pass, as until the eighteenth session) and on the replayed
batches (``trainer/replayed_eval.py``).

The cached teacher of ``prune_compare.py`` (same ``--set``/``--config-files``/``--seed``) is
rotated, pruned by magnitude to ``--prune-ratio`` and set up for fine-tuning as the trainer does;
then the four calls alternate, their order reversed every round, and the medians over
``--repeats`` rounds are reported (the model keeps training through the rounds).

Usage:
    python bench/finetune_epoch.py --dataset book-crossing \\
        --config-files properties/variants/book-crossing-bench5.yaml --set KEY=VALUE ... \\
        --checkpoint-dir DIR     # writes bench/results/finetune_epoch_<dataset>.md
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import common


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    common.add_cached_teacher_args(p)
    p.add_argument("--prune-ratio", type=float, default=0.75)
    p.add_argument("--repeats", type=int, default=7)
    common.add_threads_flag(p)
    p.add_argument("--output", default=None)
    return p.parse_args(argv)


def fine_tuning_trainer(args):
    """``(train, valid, trainer)``: the teacher rotated, pruned by magnitude, ready to fine-tune."""
    args.set = [*args.set, f"prune_ratio={args.prune_ratio}"]
    (train, valid, _), _, trainer = common.cached_teacher_run(args, "magnitude")
    trainer._prune(trainer._select(train, valid, False, False))
    trainer._seed_phase(train, "finetune")
    trainer._reset_training_state(os.devnull, trainer.finetune_learning_rate)
    trainer.distillation = trainer._finetune_distillation()
    return train, valid, trainer


def calls(train, valid, trainer):
    """The four timed calls, by name."""
    from recbole.trainer import Trainer

    distillation = trainer.distillation

    def undistilled_epoch():
        trainer.distillation = None
        try:
            trainer._train_epoch(train, 0)
        finally:
            trainer.distillation = distillation

    return {"training with distillation": lambda: trainer._train_epoch(train, 0),
            "training without distillation": undistilled_epoch,
            "validation, rebuilt batches": lambda: Trainer._valid_epoch(trainer, valid),
            "validation, replayed batches": lambda: trainer._valid_epoch(valid)}


def timed(named_calls, repeats):
    for call in named_calls.values():
        call()
    times = {name: [] for name in named_calls}
    for r in range(repeats):
        for name in (list(named_calls) if r % 2 == 0 else list(named_calls)[::-1]):
            start = time.perf_counter()
            named_calls[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def render(medians, args, command, n_batches):
    before = medians["training with distillation"] + medians["validation, rebuilt batches"]
    after = medians["training with distillation"] + medians["validation, replayed batches"]
    lines = [f"# One fine-tuning epoch on {args.dataset}, side by side", "",
             f"Command: `{command}`  ", f"Date: {common.now().isoformat(timespec='seconds')}  ",
             f"Host: {common.host(threads_set=bool(args.threads))}, load {common.load_avg()}  ",
             f"Versions: {common.versions_text(common.versions())}  ",
             (f"Seed {args.seed}'s cached teacher, magnitude, prune_ratio {args.prune_ratio}; "
              f"{n_batches} training batches; medians of {args.repeats} interleaved rounds."), "",
             "| call | median s |", "|---|---|"]
    lines += [f"| {name} | {seconds:.3f} |" for name, seconds in medians.items()]
    lines += ["", f"Epoch with its validation (fine-tuning validates every epoch at "
                  f"`finetune_eval_step=1`): {before:.3f} s with rebuilt batches, {after:.3f} s "
                  f"replayed ({before / after:.2f}x)."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args, command = common.parse_own_args(parse_args, __file__, argv)
    common.set_threads(args.threads)
    train, valid, trainer = fine_tuning_trainer(args)
    medians = timed(calls(train, valid, trainer), args.repeats)
    text = render(medians, args, command, len(train))
    common.publish_table(args.output, f"finetune_epoch_{args.dataset}.md", text)


if __name__ == "__main__":
    main()
