"""Low-rank exports: the best rank-r approximation of a model's score matrix, as vectors.

A model scores user u and item i by ``users[u] @ items[i]``: its score matrix ``S = U I^T`` has
rank at most the vector width. The export can serve ``U_r I_r^T``, the closest matrix of rank r
to ``S`` in the Frobenius norm (Eckart and Young, "The approximation of one matrix by another of
lower rank", Psychometrika 1936), computed from the two thin QR factors without forming ``S``:
``U = Q_u R_u``, ``I = Q_i R_i``, ``R_u R_i^T = A diag(s) B^T``; then ``U_r = Q_u A_r
diag(sqrt(s_r))`` and ``I_r = Q_i B_r diag(sqrt(s_r))``. Propagation mixes every row, so a pruned
model with mixed widths per popularity bucket serves vectors as wide as its widest bucket; this
is how such a model serves fewer bytes. Numpy alone.
"""

import numpy as np


def low_rank_vectors(users, items, rank):
    """``(users_r, items_r, kept)``: float32 vectors of width ``rank`` whose dot products are
    the best rank-``rank`` approximation of ``users @ items.T``; ``kept`` is the share of that
    matrix's squared Frobenius norm they keep (1.0 when nothing is lost)."""
    q_users, r_users = np.linalg.qr(users.astype(np.float64))
    q_items, r_items = np.linalg.qr(items.astype(np.float64))
    left, singular, right_t = np.linalg.svd(r_users @ r_items.T, full_matrices=False)
    root = np.sqrt(singular[:rank])
    users_r = (q_users @ left[:, :rank]) * root
    items_r = (q_items @ right_t[:rank].T) * root
    energy = float(np.square(singular).sum())
    kept = float(np.square(singular[:rank]).sum()) / energy if energy > 0 else 1.0
    return _padded(users_r, rank), _padded(items_r, rank), kept


def _padded(vectors, rank):
    """float32 ``vectors`` with zero columns up to ``rank`` (fewer rows than ``rank``)."""
    out = np.zeros((vectors.shape[0], rank), np.float32)
    out[:, :vectors.shape[1]] = vectors
    return out
