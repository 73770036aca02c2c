r"""GCNPruneGAN: a LightGCN-family recommender whose channels can be masked and pruned.

Reference:
    Xiangnan He et al. "LightGCN: Simplifying and Powering Graph Convolution Network for
    Recommendation." SIGIR 2020.
    Shaohui Lin et al. "Towards Optimal Structured CNN Pruning via Generative Adversarial
    Learning." CVPR 2019 (GAL; the pruning method, see ``recbole_gcnprune.pruning``).

The dense backbone is LightGCN: embeddings propagated over the symmetric-normalised user-item
graph, layer outputs averaged, dot-product scores, BPR loss. With ``ranking_loss: ccl`` the averaged
outputs are L2-normalised (scores are cosines) and trained with SimpleX's cosine contrastive loss
(Kelong Mao et al. "SimpleX: A Simple and Strong Baseline for Collaborative Filtering." CIKM 2021);
``ccl_item_norm: False`` normalises the users only, so an item vector's norm can carry its
popularity as it does under BPR. With ``layer_transform: linear`` each
layer adds a residual bottleneck ``x + up(act(down(x)))`` whose hidden width is a channel group of
its own. Soft or hard channel masks (set by the pruning trainer) scale every channel of a group
once where it is produced (the embedding output, each ``up`` output, each hidden activation), so
a hard-masked model computes exactly what the physically pruned one does.
"""

import copy

import numpy as np
import torch
import torch.nn.functional as F
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.model.init import xavier_uniform_initialization
from recbole.model.loss import BPRLoss, EmbLoss
from recbole.utils import InputType
from torch import nn

from recbole_gcnprune.data.graph import normalized_adjacency
from recbole_gcnprune.model.buckets import BucketedEmbedding, popularity_buckets
from recbole_gcnprune.model.layers import (
    BottleneckTransform,
    ChannelGroup,
    dot_scores,
    pad_rows,
    propagate,
)

EMBEDDING_GROUP = "embedding"


def bucket_group(side, bucket):
    """Name of the channel group of bucket ``bucket`` of the ``side`` ("user"/"item") table."""
    return f"{side}.bucket{bucket}"


def hidden_group(layer):
    """Name of the channel group of layer ``layer``'s transform hidden width."""
    return f"layer{layer}.hidden"


def ccl_loss(pos_cos, neg_cos, margin, negative_weight):
    """SimpleX's cosine contrastive loss: pull positives to cosine 1, push negatives below
    ``margin``; ``neg_cos`` is ``batch`` or ``batch x negatives``."""
    neg_cos = neg_cos.reshape(pos_cos.shape[0], -1)
    neg = torch.relu(neg_cos - margin).mean(dim=1) * negative_weight
    return (torch.relu(1 - pos_cos) + neg).mean()


class GCNPruneGAN(GeneralRecommender):
    input_type = InputType.PAIRWISE

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.embedding_size = config["embedding_size"]
        self.n_layers = config["n_layers"]
        self.reg_weight = config["reg_weight"]
        self.require_pow = config["require_pow"]
        self.layer_transform = config["layer_transform"]
        self.transform_size = config["transform_size"]
        self.ranking_loss = config["ranking_loss"]
        self.ccl_margin = config["ccl_margin"]
        self.ccl_negative_weight = config["ccl_negative_weight"]
        self.ccl_item_norm = config["ccl_item_norm"]

        self.user_embedding = nn.Embedding(self.n_users, self.embedding_size)
        self.item_embedding = nn.Embedding(self.n_items, self.embedding_size)
        self.transforms = nn.ModuleList()
        if self.layer_transform == "linear":
            self.transforms.extend(
                BottleneckTransform(self.embedding_size, self.transform_size)
                for _ in range(self.n_layers)
            )
        self.bpr_loss = BPRLoss()
        self.reg_loss = EmbLoss()

        inter = dataset.inter_matrix(form="coo")
        self.degrees = {"user": np.bincount(inter.row, minlength=self.n_users),
                        "item": np.bincount(inter.col, minlength=self.n_items)}
        self.adjacency = normalized_adjacency(inter, self.n_users, self.n_items).to(self.device)
        self.register_buffer("user_ids", torch.arange(self.n_users), persistent=False)
        self.register_buffer("item_ids", torch.arange(self.n_items), persistent=False)

        self.channel_masks = {}
        self.restore_user_e = None
        self.restore_item_e = None
        self._scoring_item_e = None  # restore_item_e with rows padded for dot_scores
        self.other_parameter_name = []
        self._init_weights()

    def _init_weights(self):
        for table in self.tables().values():
            if isinstance(table, BucketedEmbedding):
                table.init_as_one_table()
            else:
                nn.init.xavier_uniform_(table.weight)
        for transform in self.transforms:
            transform.down.apply(xavier_uniform_initialization)
            nn.init.zeros_(transform.up.weight)  # an untrained bottleneck is the identity
            nn.init.zeros_(transform.up.bias)

    # ----------------------------------------------------------------- channel groups and masks
    @property
    def bucketed(self):
        """Whether the tables are split into popularity buckets (``split_into_buckets``)."""
        return isinstance(self.user_embedding, BucketedEmbedding)

    def tables(self):
        return {"user": self.user_embedding, "item": self.item_embedding}

    def split_into_buckets(self, n_buckets, bucket_maps=None):
        """Split the user and the item table into ``n_buckets`` popularity buckets each (by
        training degree; ``bucket_maps``: ``{"user": ..., "item": ...}`` given instead). Each
        bucket is a channel group of its own; the function computed is unchanged. Needs a model
        without layer transforms (their channels are shared by every row)."""
        if self.transforms:
            raise ValueError("popularity buckets need layer_transform: none")
        for side, table in self.tables().items():
            buckets = (bucket_maps[side] if bucket_maps is not None
                       else popularity_buckets(self.degrees[side], n_buckets))
            setattr(self, f"{side}_embedding", BucketedEmbedding.split(table, buckets.cpu()))
        self.drop_cached_embeddings()

    def channels_pruned(self, kept):
        """After surgery (``kept``: ``{group: sorted kept indices}``): each bucket's remaining
        columns are the shared channels it kept, and the shared width shrinks to the channels
        some bucket keeps."""
        if not self.bucketed:
            return
        for side, table in self.tables().items():
            for b, bucket in enumerate(table.buckets):
                index = torch.tensor(sorted(kept[bucket_group(side, b)]),
                                     device=bucket.channels.device)
                bucket.channels = bucket.channels[index]
        self.compact_shared_width()

    def group_popularity(self):
        """``{embedding group: mean training degree of its rows}`` (all rows for the unbucketed
        model's one embedding group)."""
        if not self.bucketed:
            rows = np.concatenate(list(self.degrees.values()))
            return {EMBEDDING_GROUP: float(rows.mean())}
        return {bucket_group(side, b): float(self.degrees[side][
                    (table.bucket_index == b).cpu().numpy()].mean())
                for side, table in self.tables().items() for b in range(len(table.buckets))}

    def compact_shared_width(self):
        """The shared width becomes the channels some bucket keeps (renumbered in order)."""
        tables = self.tables().values()
        used = torch.unique(torch.cat([b.channels for t in tables for b in t.buckets]))
        channel_of = torch.full((self.user_embedding.embedding_dim,), -1, dtype=torch.long,
                                device=used.device)
        channel_of[used] = torch.arange(used.numel(), device=used.device)
        for table in tables:
            table.place(used.numel(), channel_of)
        self.drop_cached_embeddings()

    def channel_groups(self):
        """The prunable channel groups, in a fixed order: the embedding width, then each
        transform's hidden width; for a bucketed model, each bucket's table, users first."""
        if self.bucketed:
            return [ChannelGroup(bucket_group(side, b), bucket.table.embedding_dim,
                                 producers=(bucket.table,))
                    for side, table in self.tables().items()
                    for b, bucket in enumerate(table.buckets)]
        ups = tuple(t.up for t in self.transforms)
        downs = tuple(t.down for t in self.transforms)
        groups = [
            ChannelGroup(
                EMBEDDING_GROUP,
                self.user_embedding.embedding_dim,
                producers=(self.user_embedding, self.item_embedding) + ups,
                consumers=downs,
            )
        ]
        for layer, transform in enumerate(self.transforms):
            groups.append(
                ChannelGroup(
                    hidden_group(layer),
                    transform.down.out_features,
                    producers=(transform.down,),
                    consumers=(transform.up,),
                )
            )
        return groups

    def set_channel_masks(self, masks):
        """Scale each group's channels by ``masks[name]`` (1-D tensor of the group's width);
        ``{}`` restores the unmasked model."""
        self.channel_masks = dict(masks)
        self.drop_cached_embeddings()

    def drop_cached_embeddings(self):
        self.restore_user_e, self.restore_item_e, self._scoring_item_e = None, None, None

    def train(self, mode=True):
        """Switching between train and eval invalidates the full-sort cache."""
        self.drop_cached_embeddings()
        return super().train(mode)

    def __deepcopy__(self, memo):
        """Copies share the (read-only) sparse adjacency, which cannot be deep-copied."""
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        for key, value in self.__dict__.items():
            clone.__dict__[key] = value if key == "adjacency" else copy.deepcopy(value, memo)
        return clone

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        self.adjacency = fn(self.adjacency)
        return self

    # ----------------------------------------------------------------------------- forward
    def forward(self):
        return self.normalised(*self.propagated())

    def propagated(self):
        """The mean of the layer outputs under the current masks, split into users and items,
        before any normalisation."""
        embedding_mask = self.channel_masks.get(EMBEDDING_GROUP)
        x = self.ego_embeddings()
        if embedding_mask is not None:
            x = x * embedding_mask
        elif self.bucketed and self.channel_masks:
            x = x * self.row_masks(self.channel_masks)
        return self.layer_mean(x, embedding_mask)

    def layer_mean(self, x, embedding_mask=None):
        """The mean of ``x`` (ego rows) and its ``n_layers`` propagations (through the layer
        transforms, under the current hidden masks), split into users and items."""
        total = x
        for layer in range(self.n_layers):
            x = propagate(self.adjacency, x)
            if self.transforms:
                hidden_mask = self.channel_masks.get(hidden_group(layer))
                x = self.transforms[layer](x, hidden_mask, embedding_mask)
            total = total + x
        final = total / (self.n_layers + 1)
        return torch.split(final, [self.n_users, self.n_items])

    def row_masks(self, masks):
        """``(users + items, width)``: every row's bucket mask, from ``{group: mask}``."""
        return torch.cat([
            table.row_masks(masks[bucket_group(side, b)] for b in range(len(table.buckets)))
            for side, table in self.tables().items()])

    def ego_embeddings(self):
        """Every user's then every item's embedding row. With autograd on, the tables are called
        (``emb(ids)``), as torch-pruning's tracer needs to see them; without it (scoring) their
        weights are read as they are: the same rows, without a gather of the whole table. Bucketed
        tables (never traced) are placed row by row in both cases."""
        if self.bucketed:
            return torch.cat([self.user_embedding.rows(), self.item_embedding.rows()])
        if torch.is_grad_enabled():
            return torch.cat(
                [self.user_embedding(self.user_ids), self.item_embedding(self.item_ids)]
            )
        return torch.cat([self.user_embedding.weight, self.item_embedding.weight])

    def normalised(self, user_final, item_final):
        """What ``ranking_loss`` scores: ``propagated()``'s outputs as they are (bpr), or
        L2-normalised (ccl: users, and items unless ``ccl_item_norm`` is False), row by row, so
        any subset of rows may be passed."""
        return self.normalised_users(user_final), self.normalised_items(item_final)

    def normalised_users(self, rows):
        return F.normalize(rows, dim=-1) if self.ranking_loss == "ccl" else rows

    def normalised_items(self, rows):
        normalise = self.ranking_loss == "ccl" and self.ccl_item_norm
        return F.normalize(rows, dim=-1) if normalise else rows

    def masks_commute_with_propagation(self):
        """True when the model is linear in its embedding channels (no layer transforms):
        ``propagated()`` under an embedding mask ``m`` is then ``propagated()`` unmasked times
        ``m``, channel by channel, and a frozen student's masked outputs need no propagation."""
        return not self.transforms

    def propagated_parts(self):
        """``{embedding group: (users, items)}``: what the rows of each group contribute to the
        unmasked ``propagated()``. Without layer transforms, ``propagated()`` under masks is the
        sum of these parts, each times its group's mask, channel by channel."""
        if not self.masks_commute_with_propagation():
            raise ValueError("parts need a model without layer transforms")
        self.set_channel_masks({})
        if not self.bucketed:
            return {EMBEDDING_GROUP: self.propagated()}
        ego = self.ego_embeddings()
        owners = torch.cat([self.user_embedding.bucket_index,
                            self.item_embedding.bucket_index + len(self.user_embedding.buckets)])
        parts = {}
        for index, group in enumerate(self.channel_groups()):
            parts[group.name] = self.layer_mean(ego * (owners == index).unsqueeze(1).to(ego.dtype))
        return parts

    def calculate_loss(self, interaction):
        self.drop_cached_embeddings()
        user = interaction[self.USER_ID]
        pos_item = interaction[self.ITEM_ID]
        neg_item = interaction[self.NEG_ITEM_ID]
        user_all, item_all = self.forward()
        return self.loss_from_embeddings(user_all, item_all, user, pos_item, neg_item)

    def loss_from_embeddings(self, user_all, item_all, user, pos_item, neg_item):
        """The ranking loss (BPR, or CCL on cosines) plus RecBole-style L2 on the batch's ego
        embeddings."""
        u = user_all[user]
        pos_scores = (u * item_all[pos_item]).sum(dim=1)
        neg_scores = (u * item_all[neg_item]).sum(dim=1)
        if self.ranking_loss == "ccl":
            loss = ccl_loss(pos_scores, neg_scores, self.ccl_margin, self.ccl_negative_weight)
        else:
            loss = self.bpr_loss(pos_scores, neg_scores)
        if self.reg_weight:
            ego = (
                self.user_embedding(user),
                self.item_embedding(pos_item),
                self.item_embedding(neg_item),
            )
            loss = loss + self.reg_weight * self.reg_loss(*ego, require_pow=self.require_pow)
        return loss

    def predict(self, interaction):
        user_all, item_all = self._cached_embeddings()
        user = interaction[self.USER_ID]
        item = interaction[self.ITEM_ID]
        return (user_all[user] * item_all[item]).sum(dim=1)

    def full_sort_predict(self, interaction):
        """Scores of one batch of users against all items: ``batch x n_items``, nothing more (a
        view whose rows are cache-line aligned; ``.view(-1, n_items)`` as RecBole's trainer
        does keeps it one)."""
        return self.score_users(interaction[self.USER_ID])

    def score_users(self, users):
        """``len(users) x n_items`` dot-product scores from the (cached, in eval) propagation."""
        if self.training:
            user_all, item_all = self.forward()
            return dot_scores(user_all[users], pad_rows(item_all), self.n_items)
        self.cache_embeddings()
        return dot_scores(self.restore_user_e[users], self._scoring_item_e, self.n_items)

    def cache_embeddings(self):
        """Propagate once and keep the result for scoring, unless already cached."""
        if self.restore_user_e is None:
            self.restore_user_e, self.restore_item_e = self.forward()
            self._scoring_item_e = pad_rows(self.restore_item_e)

    def _cached_embeddings(self):
        if self.training:
            return self.forward()
        self.cache_embeddings()
        return self.restore_user_e, self.restore_item_e
