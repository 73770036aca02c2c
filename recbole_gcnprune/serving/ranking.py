"""Top-k of score rows with a stable tie rule: higher score first, then the lower item index.
Items scored ``-inf`` (excluded) are never returned. numpy only.

Over many items the search goes through groups first: item ``j`` is in group ``j mod G``, each
group's best score is taken with ``size`` elementwise maxima over contiguous slices, and only the
items of the ``k`` best groups are searched. That is exact: the ``k``-th best group's score is at
most the ``k``-th best item's (the ``k`` best groups hold ``k`` items scoring at least that
much), so every item of the top ``k`` lies in a group among the best ``k``, unless more than ``k``
groups reach that score; those rows (ties) take the full search.
"""

import math

import numpy as np


def top_k(scores, k):
    """``[(indices, values)]`` per row of ``scores`` (users x items): at most ``k`` items each,
    best first, ties broken by the lower index; ``-inf`` items left out."""
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be users x items, got shape {scores.shape}")
    k = min(int(k), scores.shape[1])
    if k <= 0:
        return [(np.empty(0, np.int64), np.empty(0, scores.dtype)) for _ in scores]
    indices = _grouped_top_k_indices(scores, k)
    values = np.take_along_axis(scores, indices, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")  # indices ascend within each row
    indices = np.take_along_axis(indices, order, axis=1)
    values = np.take_along_axis(values, order, axis=1)
    kept = values > -np.inf
    if kept.all():
        return list(zip(indices, values))
    return [(i, v) if row_kept.all() else (i[row_kept], v[row_kept])
            for i, v, row_kept in zip(indices, values, kept)]


def _top_k_indices(scores, k):
    """The ``k`` chosen item indices of every row, ascending: every item above the row's k-th
    best score, then the lowest-indexed items equal to it."""
    n_items = scores.shape[1]
    kth = np.partition(scores, n_items - k, axis=1)[:, n_items - k][:, None]
    above = scores > kth
    tied = scores == kth
    wanted_ties = k - above.sum(axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= wanted_ties))
    return np.nonzero(chosen)[1].reshape(scores.shape[0], k)


def _grouped_top_k_indices(scores, k):
    """``_top_k_indices``, searching only the items of each row's ``k`` best groups (see the
    module docstring); the full search where there are too few groups to gain from it."""
    rows, n_items = scores.shape
    size = max(1, round(math.sqrt(n_items / k)))  # balances the group search and the item search
    groups = -(-n_items // size)
    if size == 1 or groups < 4 * k:
        return _top_k_indices(scores, k)
    group_best = scores[:, :groups].copy()
    for start in range(groups, n_items, groups):
        part = scores[:, start:start + groups]
        np.maximum(group_best[:, :part.shape[1]], part, out=group_best[:, :part.shape[1]])
    chosen = _top_k_indices(group_best, k)  # ascending, so the items below are ascending too
    kth_group = np.take_along_axis(group_best, chosen, axis=1).min(axis=1, keepdims=True)
    tied = (group_best >= kth_group).sum(axis=1) > k
    items = (chosen[:, None, :] + groups * np.arange(size)[None, :, None]).reshape(rows, -1)
    values = np.take_along_axis(scores, np.minimum(items, n_items - 1), axis=1)
    values[items >= n_items] = -np.inf
    found = np.take_along_axis(items, _top_k_indices(values, k), axis=1)
    if tied.any():
        found[tied] = _top_k_indices(scores[tied], k)
    return found
