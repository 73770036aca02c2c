"""Fine-tune the cached teacher from a channel set you name: which start does the fine-tuning like?

A diagnostic, not a criterion: it runs the ``magnitude`` pipeline (rotation, shrink-and-perturb,
distilled fine-tuning, test) with the importance replaced by the given rotated channel indices,
so two sets differ only in the channels they start from. The teacher ``prune_compare.py``
cached is copied into ``--work-dir`` (one folder per set), so nothing there is overwritten. A set
run again in the same ``--work-dir`` returns its finished run (the pipeline's resume); rerun it
in a new ``--work-dir``.

    python bench/kept_set_finetune.py --dataset book-crossing \\
        --config-files properties/variants/book-crossing-recommended.yaml \\
        --seed 2021 --split-seed 2021 --checkpoint-dir bench/.work/flag-split21/saved \\
        --kept-sets 1-16 --work-dir bench/.work/kept-sets
"""

import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common
from bench.leading_directions import channel_list

TEACHERS = os.path.join("gcnprune", "teachers")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_cached_teacher_args(p)
    p.add_argument("--kept-sets", nargs="+", required=True,
                   help="rotated channel sets, each 'a-b' or 'i,j,k'")
    p.add_argument("--prune-ratio", type=float, default=0.75)
    p.add_argument("--work-dir", required=True)
    p.add_argument("--output", default=None)
    return p.parse_args(argv)


class FixedImportance:
    """Scores 1 for the named channels of the embedding group, 0 for the others."""

    def __init__(self, kept):
        self.kept = kept

    def __call__(self, model, groups):
        import torch

        from recbole_gcnprune.model.gcn_prune_gan import EMBEDDING_GROUP

        scores = {g.name: torch.zeros(g.width) for g in groups}
        scores[EMBEDDING_GROUP][self.kept] = 1.0
        return scores


def run_set(args, kept, label):
    """Fine-tune from ``kept``; the result of ``run_recbole_prune`` (cached by its own phases)."""
    from bench.prune_compare import overrides
    from recbole_gcnprune.quick_start import run_recbole_prune
    from recbole_gcnprune.trainer.gan_prune_trainer import GANPruneTrainer

    saved = os.path.join(args.work_dir, label, "saved")
    shutil.copytree(os.path.join(args.checkpoint_dir, TEACHERS), os.path.join(saved, TEACHERS),
                    dirs_exist_ok=True)
    config = {"seed": args.seed, "split_seed": args.split_seed, "prune_ratio": args.prune_ratio,
              "prune_criterion": "magnitude", "checkpoint_dir": saved, **overrides(args)}
    importance = GANPruneTrainer._importance
    GANPruneTrainer._importance = lambda self, train, valid: FixedImportance(kept)
    try:
        return run_recbole_prune("GCNPruneGAN", args.dataset, args.config_files, config)
    finally:
        GANPruneTrainer._importance = importance


def main(argv=None):
    args, command = common.parse_own_args(parse_args, __file__, argv)
    import torch

    lines = [f"# Fine-tuned from named channel sets, {args.dataset}", "",
             f"Command: `{command}`  ", f"Date: {common.now()}  ", f"Host: {common.host()}  ",
             f"Seed {args.seed}, split seed {args.split_seed}, prune ratio {args.prune_ratio}; "
             f"teacher from `{args.checkpoint_dir}`", "",
             "| kept (rotated channels) | valid NDCG@20 | test NDCG@20 | fine-tuning s |",
             "|---|---|---|---|"]
    for text in args.kept_sets:
        kept = channel_list(text)
        result = run_set(args, kept, text.replace(",", "_"))
        selection = os.path.join(result["report"]["run_dir"], "selection.pth")
        got = torch.load(selection, weights_only=True)["pruning"]["kept"]["embedding"]
        if sorted(got) != kept:
            sys.exit(f"error: the run kept {got}, not the set asked for ({text})")
        lines.append(f"| {text} | {float(result['best_valid_result']['ndcg@20']):.4f} | "
                     f"{float(result['test_result']['ndcg@20']):.4f} | "
                     f"{result['report'].get('finetune_seconds', float('nan')):.0f} |")
    table = "\n".join(lines) + "\n"
    common.write_text(args.output or f"bench/results/kept_set_finetune_{args.dataset}.md", table)
    print(table)


if __name__ == "__main__":
    main()
