"""How popular are the items each GCNPruneGAN leaderboard row recommends?

A diagnostic for "why does the cosine (``ranking_loss: ccl``) backbone win at 64 channels and
lose at 16 on Book-Crossing": for every finished GCNPruneGAN row of a leaderboard folder, the
trained model (the row's fine-tuned checkpoint, or its teacher for a dense row) ranks all items
for every test user, training and validation items masked as RecBole's evaluator masks them for
the test set, and the script reports

* the share of the top-20 items that are among the 1% most popular items (train interactions),
  beside the same share among the users' test items (both a mean over users);
* for dot-product models, the Spearman correlation of the item vectors' norm with popularity
  (a cosine model has unit norms, so popularity must live in the directions).

    python bench/popularity_bias.py --output results/leaderboard/book-crossing-bench5
"""

import argparse
import glob
import json
import os
import sys

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common

TOP_K = 20
HEAD_SHARE = 0.01


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", required=True, help="a leaderboard folder (with rows/)")
    p.add_argument("--table", default=None,
                   help="markdown output (default bench/results/popularity_bias_<folder>.md)")
    return p.parse_args(argv)


def our_rows(folder):
    """Finished GCNPruneGAN rows with a checkpoint on disk, by label (lowest seed)."""
    rows = {}
    for path in sorted(glob.glob(os.path.join(folder, "rows", "GCNPruneGAN*.json"))):
        row = json.load(open(path))
        report = row.get("report") or {}
        dense = row.get("prune_criterion") == "none"
        checkpoint = report.get("teacher_file") if dense else os.path.join(
            report.get("run_dir", ""), "finetune.pth")
        if checkpoint:
            checkpoint = os.path.join(common.ROOT, checkpoint)  # rows keep repo-relative paths
        if row.get("status") == "ok" and checkpoint and os.path.isfile(checkpoint):
            rows.setdefault(row["label"], (row, checkpoint))
        elif row.get("status") == "ok":
            print(f"skipped {row['label']}: no checkpoint at {checkpoint}", file=sys.stderr)
    if not rows:
        sys.exit(f"error: no GCNPruneGAN row of {folder} has its checkpoint on disk")
    return rows


def trained_model(row, checkpoint, data_cache):
    from recbole_gcnprune.pruning.checkpoint import load_into, read_checkpoint
    from recbole_gcnprune.quick_start import build_model, load_data

    config = common.cpu_row_config(row)
    if "split" not in data_cache:
        data_cache["split"] = load_data(config)[1]
    train, valid, test = data_cache["split"]
    model = build_model(config, train)
    load_into(model, read_checkpoint(checkpoint))
    return model.eval(), train, valid, test


def popularity(train):
    dataset = train._dataset
    counts = np.bincount(dataset.inter_feat[dataset.iid_field].numpy(), minlength=dataset.item_num)
    counts[0] = 0  # padding id
    head = np.zeros(dataset.item_num, dtype=bool)
    head[np.argsort(-counts)[: max(1, int(HEAD_SHARE * (dataset.item_num - 1)))]] = True
    return counts, head


@torch.no_grad()
def measure(model, train, valid, test):
    counts, head = popularity(train)
    history = (train._dataset.inter_matrix(form="csr")
               + valid._dataset.inter_matrix(form="csr")).astype(bool)
    truth = test._dataset.inter_matrix(form="csr")
    users = np.unique(truth.nonzero()[0])
    shares = []
    for start in range(0, len(users), 512):
        batch = users[start:start + 512]
        scores = model.score_users(torch.as_tensor(batch)).clone()
        scores[:, 0] = -torch.inf
        seen = history[batch].tocoo()
        scores[torch.as_tensor(seen.row), torch.as_tensor(seen.col)] = -torch.inf
        top = torch.topk(scores, TOP_K, dim=1).indices.numpy()
        shares.append(head[top].mean(axis=1))
    norms = model.restore_item_e[1:].norm(dim=1).numpy()  # cached by score_users
    spearman = pd.Series(norms).corr(pd.Series(counts[1:]), method="spearman")
    truth_shares = [head[truth[u].indices].mean() for u in users]
    return {"head_share": float(np.concatenate(shares).mean()),
            "truth_head_share": float(np.mean(truth_shares)),
            "norm_spearman": float(spearman) if np.ptp(norms) > 1e-4 else float("nan")}


def render(command, results, rows):
    lines = ["# Popularity of the recommended items", "",
             f"- Command: `{command}`", f"- Date: {common.now()}",
             f"- Head: the {HEAD_SHARE:.0%} most popular items by training interactions. "
             f"Share: of each test user's top-{TOP_K} (training and validation items masked) "
             "and of their test items, mean over users.",
             "- Norm-popularity: Spearman correlation of the final item vectors' L2 norm with "
             "popularity (NaN: unit norms, a cosine model).", "",
             "| row | test NDCG@20 | top-20 share in head | norm-popularity Spearman |",
             "|---|---|---|---|"]
    truth = next(iter(results.values()))["truth_head_share"]
    for label, r in results.items():
        ndcg = rows[label][0]["test_result"]["ndcg@20"]
        lines.append(f"| {label} | {ndcg:.4f} | {r['head_share']:.3f} | "
                     f"{r['norm_spearman']:.2f} |")
    lines.append(f"| *users' test items* | | {truth:.3f} | |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    args, command = common.parse_own_args(parse_args, __file__, argv)
    rows = our_rows(args.output)
    data_cache, results = {}, {}
    for label, (row, checkpoint) in sorted(rows.items()):
        results[label] = measure(*trained_model(row, checkpoint, data_cache))
    table = render(command, results, rows)
    name = os.path.basename(os.path.normpath(args.output))
    common.write_text(args.table or f"bench/results/popularity_bias_{name}.md", table)
    print(table)


if __name__ == "__main__":
    main()
