"""Command line: ``python run_recbole_prune.py --model=GCNPruneGAN --dataset=ml-100k [--key=value ...]``.

Any other ``--key=value`` is a RecBole/plugin config override (RecBole reads them itself).
``--leaderboard`` runs many models instead (``run_recbole_prune.py --leaderboard --help``).
"""

import argparse
import sys

from recbole_gcnprune.cli_args import config_files
from recbole_gcnprune.errors import UserInputError

SERVING_COMMANDS = ("export", "verify", "recommend")  # recbole_gcnprune.serving.cli


def build_parser():
    parser = argparse.ArgumentParser(
        prog="run_recbole_prune.py",
        description="Train, GAN-prune and evaluate graph recommenders on RecBole.",
        epilog="Other --key=value arguments override RecBole/plugin config keys. Serving: "
               "run_recbole_prune.py export|verify|recommend --help (docs/serving.md).",
    )
    parser.add_argument("--model", "-m", default="GCNPruneGAN", help="model name (ours or RecBole's)")
    parser.add_argument("--dataset", "-d", default="ml-100k", help="dataset name")
    parser.add_argument(
        "--config_files", nargs="+", default=None, help="yaml config files (space separated)"
    )
    parser.add_argument(
        "--leaderboard",
        action="store_true",
        help="train and compare many models instead (see --leaderboard --help)",
    )
    return parser


def main(argv=None):
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in SERVING_COMMANDS:
        from recbole_gcnprune.serving.cli import main as serving_main

        return serving_main(argv)
    args, _ = build_parser().parse_known_args([a for a in argv if a not in ("-h", "--help")])
    saved_argv = sys.argv
    sys.argv = [saved_argv[0], *argv]  # RecBole's Config reads --key=value from sys.argv
    try:
        if args.leaderboard:
            from recbole_gcnprune.leaderboard.command import run_command

            return run_command(argv)
        build_parser().parse_known_args(argv)  # --help prints and exits here
        return run_single(args)
    finally:
        sys.argv = saved_argv


def run_single(args):
    """Train and test one model; one-line error and status 2 on bad input."""
    try:
        from recbole_gcnprune.quick_start import run_recbole_prune

        result = run_recbole_prune(
            model=args.model, dataset=args.dataset, config_file_list=config_files(args.config_files)
        )
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print_result(result)
    return 0


def print_result(result):
    print(f"{result['model']} on {result['dataset']}: test result")
    for metric, value in result["test_result"].items():
        print(f"  {metric:<14} {value:.4f}")
    if result.get("summary"):
        from recbole_gcnprune.run_summary import summary_lines

        print("summary")
        for line in summary_lines(result["summary"]):
            print(f"  {line}")
