"""What the teacher's leading principal directions hold, and what each kept set scores untrained.

For the cached dense teacher, rotated into its principal basis (``pruning/rotation.py``), it
tabulates the first ``--directions`` directions: their share of ``tr(U^T U + I^T I)``, the share
of items on the positive side, and the Spearman correlation of the items' coordinate (and of
their absolute coordinate) with training popularity. Then it cuts the rotated teacher to each
``--kept-sets`` channel list, without fine-tuning, and reports validation and test NDCG@20.

    python bench/leading_directions.py --dataset book-crossing \\
        --config-files properties/variants/book-crossing-recommended.yaml \\
        --seed 2021 --split-seed 2021 --checkpoint-dir bench/.work/flag-split21/saved
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_cached_teacher_args(p)
    p.add_argument("--directions", type=int, default=6, help="leading directions tabulated")
    p.add_argument("--kept-sets", nargs="*", default=["0-15", "1-16"],
                   help="channel sets cut untrained, each 'a-b' or 'i,j,k' (rotated indices)")
    p.add_argument("--output", default=None)
    return p.parse_args(argv)


def channel_list(text):
    """'0-15' -> [0..15]; '7,10,12' -> [7, 10, 12]."""
    if "-" in text:
        first, last = (int(x) for x in text.split("-"))
        return list(range(first, last + 1))
    return sorted(int(x) for x in text.split(","))


def direction_rows(item_e, energy, popularity, directions):
    """Markdown rows: energy share, positive share, Spearman with popularity (signed, absolute)."""
    import pandas as pd

    pop = pd.Series(popularity.numpy())
    rows = []
    for k in range(directions):
        coordinate = pd.Series(item_e[:, k].numpy())
        rows.append(f"| {k} | {100 * energy[k]:.1f}% | {float((coordinate > 0).mean()):.2f} | "
                    f"{coordinate.corr(pop, method='spearman'):.2f} | "
                    f"{coordinate.abs().corr(pop, method='spearman'):.2f} |")
    return rows


def main(argv=None):
    args, command = common.parse_own_args(parse_args, __file__, argv)
    import copy

    import torch

    from recbole_gcnprune.model.gcn_prune_gan import EMBEDDING_GROUP
    from recbole_gcnprune.pruning.checkpoint import load_into, read_checkpoint
    from recbole_gcnprune.pruning.rotation import rotate_to_principal_basis
    from recbole_gcnprune.pruning.surgery import prune_channels

    (train, valid, test), dense, trainer = common.cached_teacher_run(args, "none")
    load_into(dense, read_checkpoint(trainer.teacher_file))
    dense.eval()
    with torch.no_grad():
        energy = rotate_to_principal_basis(dense, EMBEDDING_GROUP, *dense.forward())
        _, item_e = dense.forward()
    dataset = train.dataset
    items = dataset.inter_feat[dataset.iid_field]
    popularity = torch.bincount(items, minlength=dataset.item_num).float()

    def ndcg(model, loader):
        trainer.model = model
        return float(trainer.evaluate(loader, load_best_model=False)["ndcg@20"])

    lines = [f"# The teacher's leading principal directions, {args.dataset}", "",
             f"Command: `{command}`  ", f"Date: {common.now()}  ", f"Host: {common.host()}  ",
             f"Seed {args.seed}, split seed {args.split_seed}; teacher `{trainer.teacher_file}`",
             "", "| direction | share of the energy | items on the + side | "
             "Spearman(coordinate, popularity) | Spearman(abs coordinate, popularity) |",
             "|---|---|---|---|---|",
             *direction_rows(item_e[1:], energy, popularity[1:], args.directions), "",
             "| kept (rotated channels), untrained | share of the energy | valid NDCG@20 | "
             "test NDCG@20 |", "|---|---|---|---|",
             f"| all {dense.embedding_size} (dense) | 100% | {ndcg(dense, valid):.4f} | "
             f"{ndcg(dense, test):.4f} |"]
    for text in args.kept_sets:
        kept = channel_list(text)
        cut = prune_channels(copy.deepcopy(dense), {EMBEDDING_GROUP: kept}).eval()
        lines.append(f"| {text} | {100 * sum(energy[k] for k in kept):.1f}% | "
                     f"{ndcg(cut, valid):.4f} | {ndcg(cut, test):.4f} |")
    table = "\n".join(lines) + ("\n\nItems: RecBole's ids 1.. (0 is padding); popularity: "
                                "training interactions.\n")
    common.write_text(args.output or f"bench/results/leading_directions_{args.dataset}.md", table)
    print(table)


if __name__ == "__main__":
    main()
