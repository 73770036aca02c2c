"""Which channels each selection keeps, and how the teacher cut to them validates, without
fine-tuning: a quick look at search variants before a full ``prune_compare.py`` run.

For every seed's cached teacher (``prune_compare.py``'s, same ``--set``/``--config-files``), every
``--variants`` entry (extra ``key=value`` settings, comma-separated; ``-`` for none) and every
``--criteria`` entry, the selection phase runs as in a pruning run (rotation, then the criterion;
the gan search with its own validation-based stop) and the table gives the embedding channels
kept, the validation NDCG@20 of the teacher hard-masked to them (the pruned model before
fine-tuning; criteria that keep the same channels fine-tune to the same model) and the selection's
seconds. Fine-tuned test figures still come from ``prune_compare.py`` only.

Usage:
    python bench/search_selection.py --dataset book-crossing \\
        --config-files properties/variants/book-crossing-bench5.yaml --set KEY=VALUE ... \\
        --checkpoint-dir DIR --seeds 2020,2021,2022 --prune-ratio 0.9 \\
        --criteria gan magnitude --variants - search_rank_weight=0
"""

import argparse
import os
import sys
from time import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import common


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    common.add_cached_teacher_args(p)
    p.add_argument("--seeds", default="2020,2021,2022", help="comma-separated training seeds")
    p.add_argument("--prune-ratio", type=float, default=0.9)
    p.add_argument("--criteria", nargs="+", default=["gan", "magnitude"])
    p.add_argument("--variants", nargs="+", default=["-"],
                   help="extra settings per variant: key=value[,key=value...], or - for none")
    p.add_argument("--output", default=None)
    return p.parse_args(argv)


def variant_settings(text):
    """``"a=1,b=x"`` -> ``["a=1", "b=x"]``; ``"-"`` -> ``[]``."""
    return [] if text == "-" else text.split(",")


def compact_ranges(channels):
    """``[0, 1, 2, 5]`` -> ``"0-2, 5"``."""
    runs, start = [], channels[0] if channels else None
    for prev, cur in zip(channels, channels[1:] + [None]):
        if cur != prev + 1:
            runs.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = cur
    return ", ".join(runs)


def select_once(args, seed, variant, criterion):
    """``(kept embedding channels, valid NDCG@20 before fine-tuning, selection seconds, search
    epochs run)`` of one selection on seed ``seed``'s cached teacher."""
    from recbole_gcnprune.model.gcn_prune_gan import EMBEDDING_GROUP

    run_args = argparse.Namespace(**{**vars(args), "seed": seed,
                                     "set": args.set + variant_settings(variant)
                                     + [f"prune_ratio={args.prune_ratio}"]})
    (train, valid, _), model, trainer = common.cached_teacher_run(run_args, criterion)
    start = time()
    kept = trainer._select(train, valid, False, False)
    seconds = time() - start
    score = trainer._kept_valid_score(valid, kept)
    epochs = len(trainer.report.get("search_history", [])) or "-"
    return sorted(kept[EMBEDDING_GROUP]), score, seconds, epochs


def render(args, command, rows):
    lines = [f"# Channels each selection keeps, {args.dataset}, {1 - args.prune_ratio:.0%} kept",
             "", f"Command: `{command}`  ", f"Date: {common.now().isoformat(timespec='seconds')}  ",
             f"Host: {common.host()}  ",
             f"Versions: {common.versions_text(common.versions())}  ",
             ("Each seed's cached teacher, rotated; valid NDCG@20 of the teacher hard-masked to the "
              "kept channels, before any fine-tuning."), "",
             "| seed | variant | criterion | kept embedding channels | valid NDCG@20 (no "
             "fine-tuning) | search epochs | selection s |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {seed} | {variant} | {criterion} | {compact_ranges(kept)} | {score:.4f} | "
              f"{epochs} | {seconds:.1f} |"
              for seed, variant, criterion, kept, score, seconds, epochs in rows]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args, command = common.parse_own_args(parse_args, __file__, argv)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for variant in args.variants:
            for criterion in args.criteria:
                kept, score, seconds, epochs = select_once(args, seed, variant, criterion)
                rows.append((seed, variant, criterion, kept, score, seconds, epochs))
                print(rows[-1], flush=True)
    text = render(args, command, rows)
    common.publish_table(args.output, f"search_selection_{args.dataset}.md", text)


if __name__ == "__main__":
    main()
