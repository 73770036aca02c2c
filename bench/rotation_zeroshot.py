"""What the principal-basis rotation buys before any fine-tuning: the cached dense teacher cut to
k embedding channels, kept by magnitude in the trained basis vs in the teacher's principal basis.

Nothing is trained: each cut model is the teacher's weights restricted to k channels, tested with
RecBole's evaluator on the same split. The teacher is the one ``prune_compare`` (and the
leaderboard) cached for these settings; run it first.

    python bench/rotation_zeroshot.py --dataset ml-100k --checkpoint-dir results/leaderboard/ml-100k/checkpoints
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_cached_teacher_args(p)
    p.add_argument("--kept", default="16,6", help="comma-separated channel counts to keep")
    p.add_argument("--output", default=None)
    return p.parse_args(argv)


def cut(model, kept, rotate):
    """A copy of ``model`` keeping its ``kept`` largest-norm embedding channels, in the trained
    basis or after the principal-basis rotation."""
    import copy

    import torch

    from recbole_gcnprune.model.gcn_prune_gan import EMBEDDING_GROUP
    from recbole_gcnprune.pruning.rotation import rotate_to_principal_basis
    from recbole_gcnprune.pruning.surgery import prune_channels

    model = copy.deepcopy(model)
    if rotate:
        with torch.no_grad():
            rotate_to_principal_basis(model, EMBEDDING_GROUP, *model.forward())
    weights = torch.cat([model.user_embedding.weight, model.item_embedding.weight])
    order = weights.norm(dim=0).argsort(descending=True)[:kept]
    return prune_channels(model, {EMBEDDING_GROUP: sorted(order.tolist())})


def main(argv=None):
    args, command = common.parse_own_args(parse_args, __file__, argv)
    from recbole_gcnprune.pruning.checkpoint import load_into, read_checkpoint

    (_train, _valid, test), dense, trainer = common.cached_teacher_run(args, "none")
    load_into(dense, read_checkpoint(trainer.teacher_file))

    def ndcg(model):
        model.eval()
        trainer.model = model
        return float(trainer.evaluate(test, load_best_model=False)["ndcg@20"])

    dense_ndcg = ndcg(dense)
    lines = [f"# Teacher cut to k channels without fine-tuning, {args.dataset}", "",
             f"Command: `{command}`  ", f"Date: {common.now()}  ", f"Host: {common.host()}  ",
             f"Seed {args.seed}, split seed {args.split_seed}; teacher `{trainer.teacher_file}`",
             "", "| kept channels | trained basis, by norm | principal basis, by norm |",
             "|---|---|---|", f"| all {dense.embedding_size} (dense) | {dense_ndcg:.4f} | - |"]
    for kept in (int(k) for k in args.kept.split(",")):
        plain, rotated = ndcg(cut(dense, kept, False)), ndcg(cut(dense, kept, True))
        lines.append(f"| {kept} | {plain:.4f} ({100 * plain / dense_ndcg:.1f}%) | "
                     f"{rotated:.4f} ({100 * rotated / dense_ndcg:.1f}%) |")
    table = "\n".join(lines) + "\n\nTest NDCG@20 (% of the dense teacher's).\n"
    common.write_text(args.output or f"bench/results/rotation_zeroshot_{args.dataset}.md", table)
    print(table)


if __name__ == "__main__":
    main()
