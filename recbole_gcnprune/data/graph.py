"""The symmetric-normalised user-item adjacency, built straight into CSR (no ``dok_matrix``)."""

import numpy as np
import scipy.sparse as sp
import torch


def normalized_adjacency(inter_coo, n_users, n_items):
    r"""Return :math:`D^{-1/2} A D^{-1/2}` of the bipartite graph as a torch CSR tensor.

    ``inter_coo`` is RecBole's ``dataset.inter_matrix(form="coo")`` (users x items); duplicate
    interactions count once, as in RecBole's LightGCN.
    """
    rows = inter_coo.row.astype(np.int64)
    cols = inter_coo.col.astype(np.int64) + n_users
    n_nodes = n_users + n_items
    ones = np.ones(2 * len(rows), dtype=np.float32)
    adj = sp.csr_matrix(
        (ones, (np.concatenate([rows, cols]), np.concatenate([cols, rows]))),
        shape=(n_nodes, n_nodes),
    )
    adj.data[:] = 1.0  # collapse duplicates summed by the constructor
    degree = np.asarray(adj.sum(axis=1)).ravel() + 1e-7
    inv_sqrt = np.power(degree, -0.5).astype(np.float32)
    norm = sp.diags(inv_sqrt) @ adj @ sp.diags(inv_sqrt)
    norm = norm.tocsr().astype(np.float32)
    norm.sort_indices()
    index_dtype = csr_index_dtype(n_nodes, norm.nnz)
    return torch.sparse_csr_tensor(
        torch.from_numpy(norm.indptr.astype(index_dtype)),
        torch.from_numpy(norm.indices.astype(index_dtype)),
        torch.from_numpy(norm.data),
        size=(n_nodes, n_nodes),
        check_invariants=False,
    )


def csr_index_dtype(n_nodes, nnz):
    """int32 where every index fits, else int64.

    The CPU sparse product (MKL, 32-bit indices) converted int64 CSR indices to int32 on every
    call: 7 copies per 3-layer propagation, 13% of a 16-channel model's propagation on ml-100k
    (profiled, two threads) and a cost the same at every width. int32 gives the same products to
    the bit.
    """
    limit = np.iinfo(np.int32).max
    return np.int32 if max(n_nodes, nnz) <= limit else np.int64
