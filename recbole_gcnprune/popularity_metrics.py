"""NDCG@K by popularity group of the test items: does a model keep its rare items?

Items are split by training degree into head, torso and tail, each holding a third of the
training interactions (``popularity_buckets``). For each group, a user's relevant items are their
test items in that group, ranked against the whole catalogue as RecBole's full-sort evaluation
ranks them (training and validation items excluded); the group's NDCG@K is the mean over the
users with at least one test item in it.
"""

import numpy as np
import torch

from recbole_gcnprune.model.buckets import popularity_buckets

GROUPS = ("head", "torso", "tail")


def item_groups(train_data):
    """Group index (0 head, 1 torso, 2 tail) of every item id, by training degree."""
    dataset = train_data._dataset
    inter = dataset.inter_matrix(form="coo")
    degrees = np.bincount(inter.col, minlength=dataset.item_num)
    return popularity_buckets(degrees, len(GROUPS))


@torch.no_grad()
def ndcg_by_popularity(model, train_data, test_data, k=20):
    """``{"head": ndcg, "torso": ..., "tail": ..., "users": {group: n}}`` of ``model`` on the
    full-sort ``test_data``."""
    groups = item_groups(train_data)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    totals, counts = np.zeros(len(GROUPS)), np.zeros(len(GROUPS), dtype=np.int64)
    model.eval()
    for interaction, history, positive_u, positive_i in test_data:
        scores = model.full_sort_predict(interaction.to(model.device)).view(
            -1, test_data._dataset.item_num).clone()
        scores[:, 0] = -np.inf
        if history is not None:
            scores[history[0], history[1]] = -np.inf
        top = torch.topk(scores, k, dim=1).indices.cpu().numpy()
        _accumulate(top, positive_u.cpu().numpy(), positive_i.cpu().numpy(), groups.numpy(),
                    discount, totals, counts)
    return {**{name: float(totals[g] / counts[g]) if counts[g] else float("nan")
               for g, name in enumerate(GROUPS)},
            "users": {name: int(counts[g]) for g, name in enumerate(GROUPS)}}


def _accumulate(top, positive_u, positive_i, groups, discount, totals, counts):
    k = top.shape[1]
    for row in np.unique(positive_u):
        items = positive_i[positive_u == row]
        for g in range(len(GROUPS)):
            relevant = items[groups[items] == g]
            if relevant.size == 0:
                continue
            hits = np.isin(top[row], relevant)
            ideal = discount[:min(relevant.size, k)].sum()
            totals[g] += float((hits * discount).sum() / ideal)
            counts[g] += 1
