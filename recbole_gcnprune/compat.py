"""RecBole 1.2.1 on today's Python stack: every fix in one place.

Pinned in pyproject.toml (a working release exists), each guarded by a test in tests/test_compat.py:

* ``numpy<2``: ray<=2.6.3 (RecBole's pin) is built against numpy 1.x and RecBole's
  ``Config.compatibility_settings`` reads ``np.float_``.
* ``setuptools<81``: ray 2.6.3 imports ``pkg_resources`` (imported by ``recbole.quick_start``).
* ``scipy<1.13``: RecBole's LightGCN/NGCF/NCL/GCMC build adjacency with ``dok_matrix._update``.
* ``pandas<3``: copy-on-write turns RecBole's ``feat[field].fillna(..., inplace=True)`` into a no-op.

Shimmed here (no working release to pin):

* RecBole's ``TraditionalTrainer`` (Pop, ItemKNN, ...) sets ``epochs=1`` after ``eval_step`` was
  clamped to ``epochs``: with ``eval_step > 1`` it never validates nor saves; we clamp again.

* torch>=2.6 loads with ``weights_only=True``; RecBole pickles its ``Config`` object into every
  checkpoint, so its own best-model reload fails. :func:`apply` makes RecBole's trainer write
  checkpoints of tensors and plain values only, atomically, so they load with ``weights_only=True``.

* RecBole's ``NeuMF`` has no ``full_sort_predict``, so RecBole's trainer scores every (user, item)
  pair through ``predict`` (``repeat_interleave`` + ``_spilt_predict``): 520-680 s per full-sort
  validation on Book-Crossing (7,033 users x 9,441 items). :func:`neumf_full_sort_predict` gives
  it an exact batched one (the scores of ``predict``, to float rounding).

* RecBole's ``sequential_recommender/sine.py`` calls ``torch.autograd.set_detect_anomaly(True)`` when
  it is imported, and importing ``recbole.model.sequential_recommender`` (as listing RecBole's model
  names does) imports it: from then on every backward pass of the process, whatever the model, runs
  autograd's debugging mode (a NaN check on every gradient, a traceback per recorded op).
  :func:`apply` imports that package once and restores the anomaly setting it found.
"""

import importlib

import torch
from recbole.model.abstract_recommender import AbstractRecommender
from recbole.model.general_recommender.neumf import NeuMF
from recbole.trainer.trainer import TraditionalTrainer, Trainer
from recbole.utils import set_color

from recbole_gcnprune.atomic import atomic_torch_save

_APPLIED = False


def plain_config(config):
    """The JSON-able subset of a RecBole ``Config`` (enums and objects dropped)."""
    plain = {}
    for key, value in config.final_config_dict.items():
        if isinstance(value, (str, int, float, bool, type(None))):
            plain[key] = value
        elif isinstance(value, (list, tuple)) and all(
            isinstance(v, (str, int, float, bool)) for v in value
        ):
            plain[key] = list(value)
    return plain


def loadable_other_parameter(model):
    """``model.other_parameter()`` without the values ``weights_only`` loading refuses (scipy and
    numpy matrices of ItemKNN/EASE/SLIMElastic, modules of FDSA/DIN/DIEN): those are rebuilt from
    the dataset by the model's ``__init__`` or saved in ``state_dict`` already."""
    return {key: value for key, value in model.other_parameter().items()
            if value is None or isinstance(value, (torch.Tensor, bool, int, float))}


def checkpoint_state(trainer, epoch):
    """RecBole's checkpoint keys, holding only tensors and plain values."""
    return {
        "config": plain_config(trainer.config),
        "epoch": int(epoch),
        "cur_step": int(trainer.cur_step),
        "best_valid_score": float(trainer.best_valid_score),
        "state_dict": trainer.model.state_dict(),
        "other_parameter": loadable_other_parameter(trainer.model),
        "optimizer": trainer.optimizer.state_dict(),
        # plain metadata a trainer subclass adds (e.g. the pruned widths and kept indices)
        **getattr(trainer, "checkpoint_metadata", {}),
    }


def _save_weights_only_checkpoint(self, epoch, verbose=True, **kwargs):
    """Replacement for ``Trainer._save_checkpoint``: same keys, no pickled objects, atomic."""
    if not self.config["single_spec"] and self.config["local_rank"] != 0:
        return
    saved_model_file = kwargs.pop("saved_model_file", self.saved_model_file)
    atomic_torch_save(checkpoint_state(self, epoch), saved_model_file)
    if verbose:
        self.logger.info(set_color("Saving current", "blue") + f": {saved_model_file}")


def _traditional_trainer_init(init):
    """RecBole's ``TraditionalTrainer`` forces ``epochs=1`` after ``Trainer`` has set
    ``eval_step = min(eval_step, epochs)``; with ``eval_step > 1`` (ours is 5) Pop & co. never
    validate, never save a checkpoint, and the test reload fails. Clamp it again."""

    def __init__(self, config, model):
        init(self, config, model)
        self.eval_step = min(self.eval_step, self.epochs)

    return __init__


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


def _install_neumf_full_sort_predict():
    """Give NeuMF :func:`neumf_full_sort_predict` unless RecBole already implements one."""
    if NeuMF.full_sort_predict is AbstractRecommender.full_sort_predict:
        NeuMF.full_sort_predict = neumf_full_sort_predict


def _import_recbole_sequential_models_keeping_anomaly_mode():
    """Run the import side effect of RecBole's ``sine.py`` now and undo it, so that no later import
    switches autograd's anomaly detection on for the whole process."""
    enabled = torch.is_anomaly_enabled()
    importlib.import_module("recbole.model.sequential_recommender")
    torch.autograd.set_detect_anomaly(enabled)


def apply():
    """Install the shims (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    _import_recbole_sequential_models_keeping_anomaly_mode()
    Trainer._save_checkpoint = _save_weights_only_checkpoint
    TraditionalTrainer.__init__ = _traditional_trainer_init(TraditionalTrainer.__init__)
    _install_neumf_full_sort_predict()
    _APPLIED = True
