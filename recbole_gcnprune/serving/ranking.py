"""Top-k of score rows with a stable tie rule: higher score first, then the lower item index.
Items scored ``-inf`` (excluded) are never returned. numpy only."""

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
    indices = _top_k_indices(scores, k)
    values = np.take_along_axis(scores, indices, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")  # indices ascend within each row
    indices = np.take_along_axis(indices, order, axis=1)
    values = np.take_along_axis(values, order, axis=1)
    return [(i[v > -np.inf], v[v > -np.inf]) for i, v in zip(indices, values)]


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
