"""Does a training run repeat bit for bit in a fresh process? The dense teacher of one seed,
trained for ``--epochs`` epochs from scratch in ``--processes`` fresh Python processes (each
with its own ``PYTHONHASHSEED``), with ``torch.use_deterministic_algorithms`` off and on.

Reports, per mode, each process's weights fingerprint (SHA-256 of the state dict) and its
largest weight difference from the mode's first process. The runs share one machine; on
another CPU the kernels may round differently, so this says nothing across machines.

    python bench/process_determinism.py --dataset ml-100k --epochs 2 --processes 3
"""

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_one_run_args(p)
    p.add_argument("--epochs", type=int, default=2, help="teacher epochs per process")
    p.add_argument("--processes", type=int, default=3, help="fresh processes per mode")
    p.add_argument("--output", default=None)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)  # internal: 'on|off:state file'
    return p.parse_args(argv)


def train_teacher(args, deterministic, state_file):
    """Train the teacher in this process and save its state dict to ``state_file``."""
    import torch

    from bench.prune_compare import overrides
    from recbole_gcnprune.config import Config
    from recbole_gcnprune.determinism import deterministic_algorithms
    from recbole_gcnprune.quick_start import build_model_and_trainer, load_data

    config = Config("GCNPruneGAN", args.dataset, args.config_files,
                    {"seed": args.seed, "split_seed": args.split_seed, "epochs": args.epochs,
                     "checkpoint_dir": os.path.dirname(state_file), **overrides(args)})
    _, (train, valid, _test) = load_data(config)
    _, trainer = build_model_and_trainer(config, train)
    with deterministic_algorithms(deterministic):
        trainer._teacher(train, valid, False, False)
    torch.save(trainer.model.state_dict(), state_file)


def run_child(argv, mode, index, folder):
    """The state file of one fresh process training in ``mode``."""
    state_file = os.path.join(folder, f"{mode}-{index}", "state.pth")
    os.makedirs(os.path.dirname(state_file))
    env = {**os.environ, "PYTHONHASHSEED": str(index + 1)}
    subprocess.run([sys.executable, __file__, *argv, "--child", f"{mode}:{state_file}"],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return state_file


def fingerprint(state):
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode() + state[key].numpy().tobytes())
    return digest.hexdigest()[:16]


def mode_rows(argv, mode, processes, folder):
    """Table rows of one mode: process, PYTHONHASHSEED, fingerprint, difference from the first."""
    import torch

    states = [torch.load(run_child(argv, mode, i, folder), weights_only=True)
              for i in range(processes)]
    return [f"| {mode} | {i + 1} | {i + 1} | `{fingerprint(s)}` | "
            f"{common.largest_weight_difference(s, states[0]):.3g} |" for i, s in enumerate(states)]


def main(argv=None):
    from bench.prune_compare import overrides

    argv = sys.argv[1:] if argv is None else list(argv)
    args, command = common.parse_own_args(parse_args, __file__, argv)
    if args.child:
        mode, state_file = args.child.split(":", 1)
        return train_teacher(args, mode == "on", state_file)
    with tempfile.TemporaryDirectory() as folder:
        rows = [row for mode in ("off", "on")
                for row in mode_rows(argv, mode, args.processes, folder)]
    lines = [f"# Reproducibility of teacher training across processes, {args.dataset}", "",
             f"Command: `{command}`  ", f"Date: {common.now()}  ", f"Host: {common.host()}  ",
             f"Seed {args.seed}, split seed {args.split_seed}; {args.epochs} teacher epochs "
             f"from scratch per process; config files: {args.config_files or 'none'}; "
             f"overrides: {overrides(args) or 'none'}", "",
             "| deterministic algorithms | process | PYTHONHASHSEED | weights SHA-256 | "
             "largest weight difference from process 1 |", "|---|---|---|---|---|", *rows]
    common.publish_table(args.output, f"process_determinism_{args.dataset}.md",
                         "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
