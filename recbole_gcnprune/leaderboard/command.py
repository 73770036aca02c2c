"""``run_recbole_prune.py --leaderboard``: parse the leaderboard's options and run it.

Options use RecBole's ``--key value``/``--key=value`` habits; every other ``--key=value`` is a
config override applied to every row (``--epochs=2`` for a smoke run).
"""

import argparse
import os
import shlex
import sys

from recbole_gcnprune.cli_args import config_files
from recbole_gcnprune.errors import UserInputError
from recbole_gcnprune.leaderboard.spec import parse_models, parse_overrides, parse_seeds

BASELINES = "Pop,BPR,NeuMF,NGCF,LightGCN,SGL,SimpleX"
OURS = ",".join(
    ["GCNPruneGAN[prune_criterion=none]"]
    + [f"GCNPruneGAN[prune_criterion=gan,prune_ratio={r}]" for r in (0.5, 0.75, 0.9)]
    + [f"GCNPruneGAN[prune_criterion={c},prune_ratio=0.75]"
       for c in ("magnitude", "taylor", "random", "train_small", "distill_small")]
)
DEFAULT_MODELS = f"{BASELINES},{OURS}"
DEFAULT_SEEDS = "2020,2021,2022"


def build_parser():
    parser = argparse.ArgumentParser(
        prog="run_recbole_prune.py --leaderboard",
        description="Train and test a list of models under one data split, evaluation config and "
        "seed list; write leaderboard.md, leaderboard.csv and leaderboard.png. Resumable.",
        epilog="Any other --key=value overrides a RecBole/plugin config key for every row "
        "(e.g. --epochs=2). A model spec is NAME or NAME[key=value,...].",
        allow_abbrev=False,
    )
    parser.add_argument("--leaderboard", action="store_true", help="run the leaderboard")
    parser.add_argument("--dataset", "-d", default="ml-100k", help="dataset name (ml-100k)")
    parser.add_argument("--models", default=DEFAULT_MODELS,
                        help=f"comma-separated model specs (default: {DEFAULT_MODELS})")
    parser.add_argument("--seeds", default=DEFAULT_SEEDS,
                        help=f"comma-separated training seeds (default: {DEFAULT_SEEDS})")
    parser.add_argument("--split-seed", "--split_seed", type=int, default=2020,
                        help="seed of the data split shared by every row (default: 2020)")
    parser.add_argument("--output", default=None,
                        help="output folder (default: results/leaderboard/DATASET)")
    parser.add_argument("--config_files", nargs="+", default=None,
                        help="yaml config files for every row (space separated)")
    parser.add_argument("--ray-address", "--ray_address", default=None,
                        help="run rows as Ray tasks on this cluster (auto, HOST:PORT, "
                        "ray://HOST:PORT, or local for a fresh local instance)")
    parser.add_argument("--render-only", action="store_true",
                        help="write the files from the rows already finished; run nothing "
                        "(the header keeps the command without this flag)")
    parser.add_argument("--ray-cpus-per-row", type=float, default=1.0,
                        help="CPUs each Ray row reserves (default: 1)")
    parser.add_argument("--ray-gpus-per-row", type=float, default=0.0,
                        help="GPUs each Ray row reserves (default: 0)")
    return parser


def command_line(argv):
    """The command as typed, for the markdown header (without ``--render-only``: the command
    that runs the rows)."""
    argv = [arg for arg in argv if arg != "--render-only"]
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "run_recbole_prune.py"
    prefix = ["python", prog] if prog.endswith(".py") else [prog]
    return shlex.join(prefix + list(argv))


def run_command(argv):
    """Entry point of ``--leaderboard``; returns the exit status (1 when a row failed)."""
    from recbole_gcnprune.leaderboard.runner import make_settings, run_leaderboard

    args, rest = build_parser().parse_known_args(argv)
    try:
        specs, seeds = parse_models(args.models), parse_seeds(args.seeds)
        settings = make_settings(args.dataset, parse_overrides(rest),
                                 config_files(args.config_files), args.split_seed)
        output = args.output or os.path.join("results", "leaderboard", args.dataset)
        ray_options = {"num_cpus": args.ray_cpus_per_row, "num_gpus": args.ray_gpus_per_row}
        result = run_leaderboard(specs, seeds, settings, output, command_line(argv),
                                 args.ray_address, ray_options, render_only=args.render_only)
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished rows are kept; rerun the same command to resume",
              file=sys.stderr)
        return 130
    for name, path in result["paths"].items():
        print(f"{name}: {path}")
    if result["failures"]:
        print(f"{len(result['failures'])} row(s) failed; see {result['paths']['md']}",
              file=sys.stderr)
        return 1
    return 0
