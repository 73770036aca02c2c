"""A full-sort scorer for RecBole's NeuMF, so the leaderboard can rank it against every item.

RecBole 1.2.1's ``NeuMF`` has no ``full_sort_predict``: its trainer scores every (user, item)
pair through ``predict`` (``repeat_interleave`` + ``_spilt_predict``), 520-680 s per full-sort
validation on Book-Crossing (7,033 users x 9,441 items). :func:`neumf_full_sort_predict` is an
exact batched one (the scores of ``predict``, to float rounding); :func:`install` gives it to
NeuMF (our ``Config`` calls it).
"""

import torch
from recbole.model.abstract_recommender import AbstractRecommender
from recbole.model.general_recommender.neumf import NeuMF

# Floats per user chunk of NeuMF's full sort (users x items x widest MLP layer). On CPU a chunk that
# stays in cache (4 MB in float32) scored 200 ml-100k users ~4x faster than 128 MB chunks did.
NEUMF_CHUNK_FLOATS = 2**25
NEUMF_CHUNK_FLOATS_CPU = 2**20
# Modules that act on the last dimension alone, so they may run on (users, items, width) tensors.
_PER_PAIR_MODULES = (torch.nn.Linear, torch.nn.Dropout, torch.nn.ReLU, torch.nn.LeakyReLU,
                     torch.nn.Sigmoid, torch.nn.Tanh, torch.nn.Identity)


def _neumf_mlp_split(model):
    """``(first Linear, the modules after it)`` of NeuMF's MLP when its first Linear can be split
    into a user part plus an item part, else ``None``: every module must act per (user, item)
    pair (no BatchNorm, no Dice) and any Dropout before the first Linear must be inactive."""
    modules = list(model.mlp_layers.mlp_layers)
    if not all(type(m) in _PER_PAIR_MODULES for m in modules):
        return None
    first = next((i for i, m in enumerate(modules) if isinstance(m, torch.nn.Linear)), None)
    if first is None or any(
        not isinstance(m, torch.nn.Dropout) or (model.training and m.p > 0)
        for m in modules[:first]
    ):
        return None
    return modules[first], modules[first + 1:]


def _neumf_pairwise_logits(model, users, n_items, chunk_floats):
    """Logits of ``users`` x every item through ``forward`` on all pairs, in chunks of users:
    the exact fallback when the MLP does not split (BatchNorm, Dice, active input Dropout)."""
    width = max([2 * model.mlp_embedding_size, model.mf_embedding_size] + model.mlp_hidden_size)
    step = max(1, chunk_floats // (n_items * width))
    items = torch.arange(n_items, device=users.device)
    return torch.cat([
        model.forward(chunk.repeat_interleave(n_items), items.repeat(len(chunk))).view(-1, n_items)
        for chunk in users.split(step)
    ])


def neumf_full_sort_predict(self, interaction, chunk_floats=None):
    """``NeuMF.full_sort_predict``: ``sigmoid(forward(user, item))`` of each user in
    ``interaction`` against every item, flattened to ``(n_users * n_items,)`` as RecBole's
    full-sort evaluation expects; the scores are those of ``predict`` (up to float rounding).

    Why: RecBole 1.2.1's NeuMF has none, so its trainer repeats each user ``n_items`` times and
    runs ``predict`` on every pair; a full-sort validation on Book-Crossing (7,033 users x 9,441
    items, 66 M pairs) took 520-680 s. Here, exactly:

    * GMF: ``(u_mf * i_mf) @ w_mf == u_mf @ (i_mf * w_mf).T``, one matmul;
    * the MLP's first Linear on ``cat(u_mlp, i_mlp)`` is ``W_u u + W_i i + b``: computed once per
      user and once per item, then broadcast-added to ``(users, items, h1)``; the modules after it
      (ReLU, Linear, Dropout, ...) run in order on that tensor, as ``forward`` runs them;
    * users go in chunks of at most ``chunk_floats`` floats of ``users x items x widest layer``
      (at least one user), so memory stays bounded; default :data:`NEUMF_CHUNK_FLOATS` (128 MB),
      :data:`NEUMF_CHUNK_FLOATS_CPU` (4 MB, cache-sized) on CPU.

    ``mf_train``/``mlp_train`` are honoured as in ``forward``. An MLP that does not split (BatchNorm
    or Dice, or an active Dropout on its input in training mode) falls back to ``forward`` on every
    pair, chunked the same way.
    """
    if not (self.mf_train or self.mlp_train):
        raise RuntimeError("mf_train and mlp_train can not be False at the same time")
    users = interaction[self.USER_ID]
    n_items = self.n_items
    if not chunk_floats:
        chunk_floats = NEUMF_CHUNK_FLOATS_CPU if users.device.type == "cpu" else NEUMF_CHUNK_FLOATS
    split = _neumf_mlp_split(self) if self.mlp_train else None
    if self.mlp_train and split is None:
        return self.sigmoid(_neumf_pairwise_logits(self, users, n_items, chunk_floats)).view(-1)

    weight = self.predict_layer.weight[0]
    n_mf = self.mf_embedding_size if self.mf_train else 0
    if self.mf_train:
        item_mf = self.item_mf_embedding.weight * weight[:n_mf]  # (items, d_mf)
    if self.mlp_train:
        first, rest = split
        d = self.mlp_embedding_size
        item_mlp = self.item_mlp_embedding.weight @ first.weight[:, d:].T  # (items, h1)
        w_mlp = weight[n_mf:]
    width = max(self.mlp_hidden_size) if self.mlp_train else 1  # GMF alone: (users, items) only
    step = max(1, chunk_floats // (n_items * width))

    logits = []
    for chunk in users.split(step):
        out = self.predict_layer.bias.expand(len(chunk), n_items)
        if self.mf_train:
            out = out + self.user_mf_embedding(chunk) @ item_mf.T
        if self.mlp_train:
            user_mlp = torch.nn.functional.linear(  # (chunk, h1), bias included once
                self.user_mlp_embedding(chunk), first.weight[:, :d], first.bias
            )
            hidden = user_mlp.unsqueeze(1) + item_mlp.unsqueeze(0)  # (chunk, items, h1)
            for module in rest:
                hidden = module(hidden)
            out = out + hidden @ w_mlp
        logits.append(out)
    return self.sigmoid(torch.cat(logits)).view(-1)


def install():
    """Give NeuMF :func:`neumf_full_sort_predict` unless RecBole already implements one."""
    if NeuMF.full_sort_predict is AbstractRecommender.full_sort_predict:
        NeuMF.full_sort_predict = neumf_full_sort_predict
