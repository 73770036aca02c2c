"""Size and speed of a trained recommender, measured the same way for every model.

Used by the leaderboard and the pruning reports:

* :func:`count_parameters`: parameters only (``numel`` summed over ``model.parameters()``, shared
  ones once, trainable or not); buffers such as Pop's item counts or a graph adjacency are not
  parameters and are not counted.
* :func:`state_dict_bytes`: the size of ``torch.save(model.state_dict())``, i.e. of the weights a
  checkpoint holds, measured in memory.
* :func:`full_sort_ms_per_1000_users`: steady-state full-sort scoring time. Each repeat scores
  1,000 users against every item with ``model.full_sort_predict`` (eval mode, ``no_grad``), after
  dropping the model's cached propagated embeddings, so graph models pay their propagation forward
  every time, as they do once per evaluation in RecBole. Users go in the batches RecBole's
  full-sort evaluation uses (the loader's ``step``: ``eval_batch_size // n_items`` users) and each
  batch's scores are released before the next, as the evaluator does; keeping them all would time
  the allocator's page faults (38 MB of fresh scores per 1,000 users on Book-Crossing), which cost
  the same at every width. One untimed warm-up run comes first; the result is the median over
  repeats. Models whose ``full_sort_predict`` raises ``NotImplementedError`` are scored through
  ``predict`` on every (user, item) pair, as RecBole's trainer does. NeuMF has one since
  :mod:`recbole_gcnprune.baselines.neumf` (installed by our ``Config``) gives it a batched, exact
  ``full_sort_predict``; rows measured before that (ml-100k NeuMF) timed the pairwise path.
* :func:`interleaved_full_sort_ms`: the same for several models timed in turn within each round,
  so that a ratio of two of them is measured side by side.
* :class:`Stopwatch`: wall time of a block (CUDA synchronised on CUDA devices).
"""

import io
import statistics
import time

import torch
from recbole.data.dataloader import FullSortEvalDataLoader
from recbole.data.interaction import Interaction

_CACHE_ATTRIBUTES = ("restore_user_e", "restore_item_e")
_PREDICT_PAIRS_PER_BATCH = 2**18


def count_parameters(model):
    """Number of parameter elements of ``model`` (buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


def state_dict_bytes(model):
    """Bytes of ``torch.save(model.state_dict())``."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def _synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


class Stopwatch:
    """``with Stopwatch(device) as clock: ...`` then ``clock.seconds``."""

    def __init__(self, device="cpu"):
        self.device = device
        self.seconds = None
        self._start = None

    def __enter__(self):
        _synchronize(self.device)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc_info):
        _synchronize(self.device)
        self.seconds = time.perf_counter() - self._start
        return False


def drop_cached_embeddings(model):
    """Forget full-sort caches: ``drop_cached_embeddings()`` if the model has it, and RecBole's
    ``restore_user_e``/``restore_item_e`` (LightGCN, NGCF, SGL, ...)."""
    drop = getattr(model, "drop_cached_embeddings", None)
    if callable(drop):
        drop()
    for name in _CACHE_ATTRIBUTES:
        if getattr(model, name, None) is not None:
            setattr(model, name, None)


def _dataset_of(dataset_or_loader):
    """A RecBole ``Dataset`` from itself or from one of its data loaders."""
    dataset = getattr(dataset_or_loader, "_dataset", None)
    return dataset_or_loader if dataset is None else dataset


def benchmark_users(dataset, n_users=1000):
    """``n_users`` real user ids (RecBole's id 0 is padding), cycled when there are fewer."""
    real = torch.arange(1, dataset.user_num)
    if len(real) == 0:
        raise ValueError("the dataset has no users to score")
    return real.repeat((n_users + len(real) - 1) // len(real))[:n_users]


def _score_batch(model, dataset, users, pairwise):
    """Scores of ``users`` against every item; ``pairwise`` uses ``predict`` on all pairs."""
    if not pairwise:
        return model.full_sort_predict(Interaction({dataset.uid_field: users}))
    items = torch.arange(dataset.item_num, device=users.device)
    pairs = Interaction(
        {
            dataset.uid_field: users.repeat_interleave(dataset.item_num),
            dataset.iid_field: items.repeat(len(users)),
        }
    )
    return model.predict(pairs)


def _score_all(model, dataset, users, batch_size, pairwise):
    """Score every user in ``users`` (caches dropped first), releasing each batch's scores."""
    drop_cached_embeddings(model)
    if pairwise:
        batch_size = max(1, _PREDICT_PAIRS_PER_BATCH // dataset.item_num)
    for start in range(0, len(users), batch_size):
        _score_batch(model, dataset, users[start : start + batch_size], pairwise)


def evaluation_batch_users(dataset_or_loader, default=256):
    """Users per full-sort batch: a RecBole full-sort loader's ``step`` (``eval_batch_size //
    n_items``), else ``default``."""
    if isinstance(dataset_or_loader, FullSortEvalDataLoader):
        return int(dataset_or_loader.step)
    return default


def _needs_pairwise(model, dataset, users):
    try:
        _score_batch(model, dataset, users[:1], pairwise=False)
    except NotImplementedError:
        return True
    return False


@torch.no_grad()
def full_sort_ms_per_1000_users(model, dataset_or_loader, device, repeats=5, batch_size=None):
    """Median milliseconds to score 1,000 users against all items (see the module docstring);
    ``batch_size`` (users) defaults to :func:`evaluation_batch_users`."""
    dataset = _dataset_of(dataset_or_loader)
    batch_size = batch_size or evaluation_batch_users(dataset_or_loader)
    users = benchmark_users(dataset).to(device)
    was_training = model.training
    model.eval()
    try:
        pairwise = _needs_pairwise(model, dataset, users)
        _score_all(model, dataset, users, batch_size, pairwise)  # warm-up
        times = []
        for _ in range(repeats):
            with Stopwatch(device) as clock:
                _score_all(model, dataset, users, batch_size, pairwise)
            times.append(clock.seconds * 1000.0)
    finally:
        drop_cached_embeddings(model)
        model.train(was_training)
    return statistics.median(times)


def interleaved_full_sort_ms(models, rounds, device="cpu", min_seconds=0.0):
    """``{key: median full-sort ms per 1,000 users}`` of ``models`` (``{key: (model, loader)}``),
    every model timed once in turn within each round: at least ``rounds`` rounds (and one), and
    more until ``min_seconds`` have passed. A shared or virtual CPU has slow spells of a fraction
    of a second to seconds; a longer window is less likely to fall wholly within one of them."""
    times = {key: [] for key in models}
    start, done = time.perf_counter(), 0
    while models and (done < max(rounds, 1) or time.perf_counter() - start < min_seconds):
        for key, (model, loader) in models.items():
            times[key].append(full_sort_ms_per_1000_users(model, loader, device, repeats=1))
        done += 1
    return {key: statistics.median(v) for key, v in times.items()}
