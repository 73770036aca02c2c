"""Mixed-dimension embedding tables: rows split into popularity buckets, each bucket its own table.

Reference:
    Antonio Ginart et al. "Mixed Dimension Embeddings with Application to Memory-Efficient
    Recommendation Systems." ISIT 2021 (frequent entities get more dimensions).

A ``BucketedEmbedding`` holds one ``nn.Embedding`` per bucket, of that bucket's kept channels,
and places every row in a *shared* width: the channels of the common (rotated) basis that any
bucket of the model keeps, zeros where its bucket keeps none. Each bucket records which shared
channels its columns are (``channels``, a buffer), so a pruned table is torch-pruning's
``prune_embedding_out_channels`` on that bucket alone and the model computes exactly what the
dense model hard-masked per bucket does. The zero-padded placement needs no projection weights:
the graph propagation mixes rows of every bucket, so propagated vectors are shared-width anyway.
"""

import numpy as np
import torch
from torch import nn


def popularity_buckets(degrees, n_buckets):
    """Bucket of each row (0 = most popular): rows sorted by training degree (descending, ties by
    row), cut so that each bucket holds about ``1 / n_buckets`` of the interactions; every bucket
    has at least one row. ``degrees``: 1-D array, one per row."""
    degrees = np.asarray(degrees, dtype=np.float64)
    n_buckets = min(n_buckets, len(degrees))
    order = np.lexsort((np.arange(len(degrees)), -degrees))
    mass = np.cumsum(degrees[order])
    total = mass[-1] if len(mass) and mass[-1] > 0 else 1.0
    cuts = np.searchsorted(mass, total * np.arange(1, n_buckets) / n_buckets, side="left") + 1
    cuts = np.maximum(cuts, np.arange(1, n_buckets))  # at least one row per bucket...
    cuts = np.minimum(cuts, len(degrees) - n_buckets + np.arange(1, n_buckets))  # ...each side
    cuts = np.maximum.accumulate(cuts)
    bucket_sorted = np.searchsorted(cuts, np.arange(len(degrees)), side="right")
    buckets = np.empty(len(degrees), dtype=np.int64)
    buckets[order] = bucket_sorted
    return torch.from_numpy(buckets)


class EmbeddingBucket(nn.Module):
    """One bucket's table and the shared channels its columns fill."""

    def __init__(self, rows, width, channels):
        super().__init__()
        self.table = nn.Embedding(rows, width)
        self.register_buffer("channels", channels.clone())


class BucketedEmbedding(nn.Module):
    """Rows of an embedding table split into buckets (``bucket_of_row``); see module docstring.

    ``embedding_dim`` is the shared width; ``forward(ids)`` returns shared-width rows, as an
    ``nn.Embedding`` would."""

    def __init__(self, bucket_of_row, width, tables=None):
        super().__init__()
        bucket_of_row = bucket_of_row.long()
        n_buckets = int(bucket_of_row.max()) + 1
        if n_buckets > MAX_BUCKETS:
            raise ValueError(f"{n_buckets} buckets: at most {MAX_BUCKETS}")
        # the checkpoint records the map in a byte per row; the long copies index with it
        self.register_buffer("bucket_of_row", bucket_of_row.to(torch.uint8))
        self.register_buffer("bucket_index", bucket_of_row.clone(), persistent=False)
        # where each row sits among the buckets' rows stacked in bucket order (rows ascending
        # within a bucket, as ``split`` takes them)
        self.register_buffer("row_order", torch.argsort(
            torch.argsort(bucket_of_row, stable=True)), persistent=False)
        self.register_buffer("shared_width", torch.tensor(width))
        sizes = torch.bincount(bucket_of_row, minlength=n_buckets).tolist()
        self.buckets = nn.ModuleList(
            EmbeddingBucket(size, width, torch.arange(width)) for size in sizes)
        if tables is not None:
            with torch.no_grad():
                for bucket, weight in zip(self.buckets, tables):
                    bucket.table.weight.copy_(weight)

    @classmethod
    def split(cls, embedding, bucket_of_row):
        """The rows of ``embedding`` (an ``nn.Embedding``) split by ``bucket_of_row`` (checked:
        one bucket per row, buckets numbered 0.. with none empty)."""
        check_bucket_map(bucket_of_row, embedding.num_embeddings)
        weight = embedding.weight.detach()
        n_buckets = int(bucket_of_row.max()) + 1
        tables = [weight[bucket_of_row == b] for b in range(n_buckets)]
        return cls(bucket_of_row.to(weight.device), embedding.embedding_dim,
                   tables).to(weight.device)

    @property
    def embedding_dim(self):
        return int(self.shared_width)

    @property
    def num_embeddings(self):
        return self.bucket_of_row.numel()

    def forward(self, ids):
        """Rows ``ids`` at the shared width, as an ``nn.Embedding`` would return them."""
        return self.rows()[ids]

    def rows(self):
        """Every row at the shared width (zeros in the channels its bucket does not keep): each
        bucket's table placed in its channels, stacked in bucket order, then put in row order."""
        placed = [bucket.table.weight.new_zeros(bucket.table.num_embeddings, self.embedding_dim)
                  .index_copy(1, bucket.channels, bucket.table.weight) for bucket in self.buckets]
        return torch.cat(placed)[self.row_order]

    @torch.no_grad()
    def init_as_one_table(self):
        """Xavier-uniform initialisation at the bound of one ``rows x shared width`` table (what
        ``nn.init.xavier_uniform_`` gives the unsplit table), in every bucket."""
        bound = (6.0 / (self.num_embeddings + self.embedding_dim)) ** 0.5
        for bucket in self.buckets:
            bucket.table.weight.uniform_(-bound, bound)

    def row_masks(self, masks):
        """``(rows, width)``: each row's bucket's mask, from one 1-D mask per bucket."""
        return torch.stack(list(masks))[self.bucket_index]

    def bucket_sizes(self):
        return [bucket.table.num_embeddings for bucket in self.buckets]

    def place(self, shared_width, channel_of):
        """Re-index every bucket's columns into a new shared width (``channel_of``: old shared
        channel -> new one) after pruning."""
        for bucket in self.buckets:
            bucket.channels = channel_of[bucket.channels]
        self.shared_width.fill_(shared_width)


MAX_BUCKETS = 255


def check_bucket_map(bucket_of_row, rows):
    """Raise ``ValueError`` unless ``bucket_of_row`` gives each of ``rows`` rows a bucket
    ``0..n-1`` and no bucket is empty."""
    if bucket_of_row.dim() != 1 or bucket_of_row.numel() != rows:
        raise ValueError(f"bucket map of shape {tuple(bucket_of_row.shape)} for {rows} rows")
    if bucket_of_row.dtype.is_floating_point or int(bucket_of_row.min()) < 0:
        raise ValueError("bucket map must hold non-negative integers")
    counts = torch.bincount(bucket_of_row.long())
    if bool((counts == 0).any()):
        raise ValueError("bucket map leaves a bucket empty")
