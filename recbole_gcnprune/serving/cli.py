"""``run_recbole_prune.py export | verify | recommend``: the serving commands.

``export`` and ``verify`` rebuild the run's config from the same flags as the main command
(``--model``, ``--dataset``, ``--config_files``, other ``--key=value``); ``recommend`` reads the
export alone and imports neither torch nor recbole. User errors are one line and exit 2.
"""

import argparse
import sys
import warnings

from recbole_gcnprune.cli_args import config_files
from recbole_gcnprune.errors import UserInputError
from recbole_gcnprune.serving.manifest import DTYPES

COMMANDS = ("export", "verify", "recommend")
# torch's note on its sparse CSR tensors (the graph's adjacency), printed on every data load
CSR_NOTE = "Sparse CSR tensor support is in beta"
# pandas' notes on RecBole's own dataset code (compat.py pins pandas<3, where it still works)
RECBOLE_MODULES = r"recbole\."
OVERRIDES = "Other --key=value arguments override RecBole/plugin config keys, as in training."


def _positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _config_flags(parser):
    parser.add_argument("--model", "-m", default=None,
                        help="model name (default: the run folder's or the export's)")
    parser.add_argument("--dataset", "-d", default=None,
                        help="dataset name (default: the run folder's or the export's)")
    parser.add_argument("--config_files", nargs="+", default=None,
                        help="yaml config files the run was trained with")


def build_parser():
    parser = argparse.ArgumentParser(prog="run_recbole_prune.py",
                                     description="Export, check and serve a trained model.")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", epilog=OVERRIDES,
                                 help="write a model's final vectors for numpy serving")
    export.add_argument("source", metavar="RUN_OR_CHECKPOINT",
                        help="a run folder (saved/gcnprune/runs/...) or a checkpoint file")
    export.add_argument("--out", required=True, metavar="DIR", help="the export folder")
    export.add_argument("--dtype", choices=DTYPES, default="float32",
                        help="stored vector type (int8/int4: per-row scales; int8-channel: "
                             "one scale per channel)")
    export.add_argument("--rank", type=_positive_int, default=None, metavar="R",
                        help="serve the best rank-R approximation of the model's scores: "
                             "vectors R wide (below the model's width)")
    export.add_argument("--hash-user-ids", metavar="KEYFILE", default=None,
                        help="write HMAC-SHA256 digests of the user tokens under this key")
    _config_flags(export)
    verify = commands.add_parser("verify", epilog=OVERRIDES,
                                 help="compare an export's top-k and metrics with the model")
    verify.add_argument("export_dir", metavar="EXPORT_DIR")
    verify.add_argument("source", metavar="RUN_OR_CHECKPOINT")
    verify.add_argument("-k", type=_positive_int, default=20, help="list length (default 20)")
    _config_flags(verify)
    recommend = commands.add_parser("recommend", help="top-k items of users, from an export")
    recommend.add_argument("export_dir", metavar="EXPORT_DIR")
    recommend.add_argument("--user", action="append", required=True, metavar="TOKEN",
                           help="a RecBole user token (repeat for several users)")
    recommend.add_argument("-k", type=_positive_int, default=20, help="list length (default 20)")
    recommend.add_argument("--exclude-seen", action="store_true",
                           help="leave out the user's train and valid items")
    recommend.add_argument("--key-file", default=None, metavar="KEYFILE",
                           help="the key of a hashed export: raw tokens are hashed first")
    return parser


def main(argv=None):
    """Run one serving command on ``argv`` (its first item is the command); the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    bad = [a for a in extras if args.command == "recommend" or not _is_override(a)]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)} (config overrides are written "
                     "--key=value)")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=CSR_NOTE)
            warnings.filterwarnings("ignore", category=FutureWarning, module=RECBOLE_MODULES)
            return RUNNERS[args.command](args, extras)
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _is_override(arg):
    return arg.startswith("--") and len(arg[2:].split("=")) == 2


def _source_flags(args, extras):
    return {"model": args.model, "dataset": args.dataset,
            "config_file_list": config_files(args.config_files), "overrides": extras}


def run_export(args, extras):
    from recbole_gcnprune.serving.exporting import export

    manifest = export(args.source, args.out, args.dtype, args.hash_user_ids,
                      **_source_flags(args, extras), rank=args.rank)
    for line in export_lines(manifest, args.out):
        print(line)
    return 0


RUN_KEY_NOTE = ("note: these flags do not give the run folder's key (other settings, or a "
                "run made by other code): its token maps, seen items and test metrics are "
                "those of the data these flags build")


def export_lines(manifest, out_dir):
    """What ``export`` prints."""
    test = manifest["metrics"]["test"]
    shown = ", ".join(f"{m} {test[m]:.4f}" for m in ("ndcg@20", "recall@20") if m in test)
    note = [RUN_KEY_NOTE] if manifest["source"]["config_matches_run"] is False else []
    low_rank = manifest.get("low_rank")
    if low_rank:
        note.append(f"rank {low_rank['rank']} of width {low_rank['of_width']}: "
                    f"{low_rank['score_energy_kept']:.2%} of the scores' squared norm kept")
    return note + [
        f"exported {manifest['model']} on {manifest['dataset']} to {out_dir}: "
        f"{manifest['num_users']:,} users x {manifest['num_items']:,} items, width "
        f"{manifest['vector_width']}, {manifest['dtype']}, user ids {manifest['user_ids']}",
        f"served bytes {manifest['served_bytes']:,} (float32 vectors: "
        f"{manifest['float32_bytes']:,})" + (f"; test {shown}" if shown else ""),
    ]


def run_verify(args, extras):
    from recbole_gcnprune.serving.verification import verify

    result = verify(args.export_dir, args.source, args.k, **_source_flags(args, extras))
    for line in result.lines():
        print(line)
    return 0 if result.approximate or result.exact else 1


def run_recommend(args, extras):
    from recbole_gcnprune.serving.recommend import load

    served = load(args.export_dir, key_file=args.key_file)
    found = served.recommend(args.user, args.k, exclude_seen=args.exclude_seen)
    print("user\trank\titem\tscore")
    for recommendation in found:
        for rank, (item, score) in enumerate(zip(recommendation.items, recommendation.scores), 1):
            print(f"{recommendation.user}\t{rank}\t{item}\t{score:.6f}")
    return 0


RUNNERS = {"export": run_export, "verify": run_verify, "recommend": run_recommend}
