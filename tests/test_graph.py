"""normalized_adjacency == D^-1/2 A D^-1/2 of the bipartite graph, duplicates counted once.

Fails without the fix: with the ``adj.data[:] = 1.0`` line removed (checked by exec'ing a copy of
graph.py without it), duplicate interactions weigh 2 and both the dense comparison and the
comparison with RecBole's LightGCN adjacency fail.
"""

import numpy as np
import scipy.sparse as sp
import torch

from recbole_gcnprune.data.graph import csr_index_dtype, normalized_adjacency

N_USERS, N_ITEMS = 4, 5
# (user, item) pairs; (0, 1) and (2, 4) appear twice, user 3 and item 3 have no interaction.
PAIRS = [(0, 0), (0, 1), (0, 1), (1, 1), (1, 2), (2, 0), (2, 4), (2, 4), (1, 4), (0, 2)]


def _coo(pairs=PAIRS):
    rows, cols = np.array(pairs).T
    return sp.coo_matrix((np.ones(len(pairs), dtype=np.float32), (rows, cols)),
                         shape=(N_USERS, N_ITEMS))


def _dense_expected(pairs=PAIRS):
    n = N_USERS + N_ITEMS
    a = np.zeros((n, n))
    for u, i in pairs:
        a[u, N_USERS + i] = a[N_USERS + i, u] = 1.0  # set, not add: duplicates count once
    degree = a.sum(axis=1)
    inv_sqrt = np.zeros(n)
    inv_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    return torch.from_numpy(inv_sqrt[:, None] * a * inv_sqrt[None, :]).float()


def test_normalized_adjacency_equals_dense_formula():
    adj = normalized_adjacency(_coo(), N_USERS, N_ITEMS)
    assert adj.layout == torch.sparse_csr
    assert adj.dtype == torch.float32
    assert tuple(adj.shape) == (N_USERS + N_ITEMS,) * 2
    torch.testing.assert_close(adj.to_dense(), _dense_expected())


def test_indices_are_int32_and_products_match_int64():
    """int32 indices spare the CPU sparse product a per-call conversion; same result to the bit."""
    adj = normalized_adjacency(_coo(), N_USERS, N_ITEMS)
    assert adj.crow_indices().dtype == torch.int32 and adj.col_indices().dtype == torch.int32
    wide = torch.sparse_csr_tensor(adj.crow_indices().long(), adj.col_indices().long(),
                                   adj.values(), size=adj.shape)
    x = torch.randn(N_USERS + N_ITEMS, 8)
    assert torch.equal(torch.sparse.mm(adj, x), torch.sparse.mm(wide, x))


def test_index_dtype_widens_past_int32():
    assert csr_index_dtype(10, 2**31 - 1) == np.int32
    assert csr_index_dtype(10, 2**31) == np.int64
    assert csr_index_dtype(2**31, 10) == np.int64


def test_duplicates_count_once():
    unique = sorted(set(PAIRS))
    assert len(unique) < len(PAIRS)
    with_dups = normalized_adjacency(_coo(PAIRS), N_USERS, N_ITEMS).to_dense()
    without = normalized_adjacency(_coo(unique), N_USERS, N_ITEMS).to_dense()
    torch.testing.assert_close(with_dups, without)
    assert with_dups.max() <= 1.0


def test_symmetric_and_isolated_nodes_finite():
    dense = normalized_adjacency(_coo(), N_USERS, N_ITEMS).to_dense()
    torch.testing.assert_close(dense, dense.T)
    assert torch.isfinite(dense).all()
    assert (dense[3] == 0).all() and (dense[N_USERS + 3] == 0).all()  # isolated user / item
    # no user-user or item-item edges
    assert (dense[:N_USERS, :N_USERS] == 0).all() and (dense[N_USERS:, N_USERS:] == 0).all()


def test_matches_recbole_lightgcn_adjacency(tmp_path, in_tmp, make_config, write_dataset):
    """On a RecBole dataset with duplicate interactions, equal to RecBole's LightGCN matrix."""
    from recbole.data import create_dataset
    from recbole.model.general_recommender import LightGCN

    rng = np.random.default_rng(1)
    rows = [f"u{u}\ti{i}\t1.0\t{t}.0" for t, (u, i) in
            enumerate(zip(rng.integers(0, 12, 80), rng.integers(0, 9, 80)))]
    rows += rows[:10]  # explicit duplicates
    write_dataset(tmp_path, name="dups", rows=rows)
    config = make_config("LightGCN", {"data_path": str(tmp_path), "state": "WARNING",
                                      "use_gpu": False}, dataset="dups")
    dataset = create_dataset(config)
    inter = dataset.inter_matrix(form="coo")
    assert len(set(zip(inter.row, inter.col))) < inter.nnz  # duplicates reach the builder

    ours = normalized_adjacency(inter, dataset.user_num, dataset.item_num).to_dense()
    theirs = LightGCN(config, dataset).norm_adj_matrix.to_dense()
    torch.testing.assert_close(ours, theirs)
