"""``verify``: every test user's top-k from an export alone against the model's own
``full_sort_predict`` on RecBole's test loader (RecBole's masking), and NDCG/Recall@k of both
score sources by RecBole's evaluator.

Lists rank by score, ties to the lower item index, on both sides. BLAS libraries (and one
library at two batch sizes) round a dot product differently in its last bits, so two items whose
model scores are within float32 rounding of each other may swap: such lists count as "equal up to
near-ties". A float32 export is exact when its vectors are the model's (bit-identical, or within
float32 rounding when it was exported on another device), every list is identical or equal up to
near-ties, and the metrics agree within 1e-6.
"""

from dataclasses import dataclass, field

import numpy as np
import torch

from recbole_gcnprune.errors import UserInputError
from recbole_gcnprune.serving.evaluation import DECIMALS, RecBoleEvaluation, masked, model_scores
from recbole_gcnprune.serving.exporting import final_vectors
from recbole_gcnprune.serving.ranking import top_k
from recbole_gcnprune.serving.recommend import load
from recbole_gcnprune.serving.source import SAME_FLAGS, load_source

METRIC_TOLERANCE = 1e-6
VECTOR_TOLERANCE = 1e-5  # of the largest |entry|: float32 rounding of another device's forward
ROUNDING_SLACK = 4  # near-tie bound: SLACK * width * eps(float32) * |user| * max |item|


@dataclass
class Verification:
    """What :func:`verify` found; ``exact`` is the float32 verdict."""

    export_dir: str
    dtype: str
    k: int
    backend: str
    users: int = 0
    identical: int = 0
    near_ties: int = 0
    overlap_sum: float = 0.0
    mask_differs: int = 0
    width: int = 0
    model_width: int = 0
    rank: int | None = None
    max_vector_error: float = float("inf")
    max_vector_entry: float = 0.0
    vectors_identical: bool = False
    model_metrics: dict = field(default_factory=dict)
    export_metrics: dict = field(default_factory=dict)
    header: str = ""

    @property
    def differing(self):
        return self.users - self.identical - self.near_ties

    @property
    def overlap(self):
        return self.overlap_sum / self.users if self.users else 1.0

    @property
    def metrics_agree(self):
        return all(abs(self.export_metrics[m] - v) <= METRIC_TOLERANCE
                   for m, v in self.model_metrics.items())

    @property
    def vectors_agree(self):
        return self.max_vector_error <= VECTOR_TOLERANCE * self.max_vector_entry

    @property
    def approximate(self):
        """Quantized or low-rank: compared with the model, not held to it."""
        return self.dtype != "float32" or bool(self.rank)

    @property
    def exact(self):
        return self.vectors_agree and self.differing == 0 and self.metrics_agree

    def lines(self):
        """The printed table."""
        k = self.k
        lines = [self.header, f"{'':<16}{'model':>12}{'export':>12}{'change':>12}"]
        for metric in (f"ndcg@{k}", f"recall@{k}"):
            model, exported = self.model_metrics[metric], self.export_metrics[metric]
            lines.append(f"{metric.upper():<16}{model:>12.6f}{exported:>12.6f}"
                         f"{exported - model:>+12.6f}")
        lines += [
            f"{f'top-{k} lists':<16}{self.identical} identical, {self.near_ties} equal up to "
            f"near-ties, {self.differing} differ (of {self.users} test users)",
            f"{f'top-{k} overlap':<16}{self.overlap:.4f}",
            f"{'vectors':<16}" + self._vector_line(),
            f"{'masks':<16}" + (f"{self.mask_differs} users' seen items differ from RecBole's "
                                "test mask (compared under RecBole's)" if self.mask_differs
                                else "seen items = RecBole's test mask for every user"),
            f"{'result':<16}{self.verdict()}",
        ]
        return lines

    def _vector_line(self):
        if self.width != self.model_width:
            kind = "rank" if self.rank else "width"
            return f"{kind} {self.width}, the model's width is {self.model_width}"
        if self.vectors_identical:
            return "bit-identical to the model's"
        return (f"max |error| {self.max_vector_error:.3g} (largest |entry| "
                f"{self.max_vector_entry:.3g})")

    def verdict(self):
        if self.approximate:
            kinds = ["quantized"] * (self.dtype != "float32") + ["low-rank"] * bool(self.rank)
            rank = f", rank {self.rank}" if self.rank else ""
            return (f"{self.dtype}{rank}: {' and '.join(kinds)}, compared only (float32 at the "
                    "model's width is the exact export)")
        if self.exact:
            return "exact"
        reasons = [text for failed, text in (
            (not self.vectors_agree, "vectors differ"),
            (self.differing, f"{self.differing} lists differ"),
            (not self.metrics_agree, f"metrics differ by more than {METRIC_TOLERANCE:g}"))
            if failed]
        return "NOT exact: " + ", ".join(reasons) + ": re-export, with the run's flags"


def verify(export_dir, source, k=20, model=None, dataset=None, config_file_list=None,
           config_dict=None, overrides=None, use_faiss=None):
    """Check the export in ``export_dir`` against ``source`` (the run folder or checkpoint it
    was exported from), rebuilt with the same config flags; returns a :class:`Verification`.
    ``model``/``dataset`` default to the export's."""
    served = load(export_dir, use_faiss=use_faiss)
    loaded = load_source(source, model or served.manifest["model"],
                         dataset or served.manifest["dataset"], config_file_list, config_dict,
                         overrides)
    _check_fits(served, loaded)
    low_rank = served.manifest.get("low_rank") or {}
    result = Verification(export_dir, served.dtype, int(k),
                          "faiss" if served.index is not None else "numpy", width=served.width,
                          rank=low_rank.get("rank"))
    _compare_vectors(served, loaded.model, result)
    _compare_test_split(served, loaded, result)
    result.header = (f"{loaded.config['model']} on {loaded.config['dataset']}, {served.dtype} "
                     f"export of {'rank' if result.rank else 'width'} {served.width}, {result.users} test users, top-{k}, "
                     f"{result.backend} search")
    return result


def _check_fits(served, loaded):
    """The export must hold this model's users and items, in RecBole's order."""
    manifest, model, config = served.manifest, loaded.model, loaded.config
    items = [str(t) for t in loaded.dataset.field2id_token[config["ITEM_ID_FIELD"]][1:]]
    if (manifest["num_users"], manifest["num_items"]) != (model.n_users - 1, model.n_items - 1) \
            or served.item_tokens != items:
        raise UserInputError(f"{served.folder} holds {manifest['num_users']} users x "
                             f"{manifest['num_items']} items of other tokens than this model's "
                             f"{model.n_users - 1} x {model.n_items - 1}: {SAME_FLAGS}")


def _compare_vectors(served, model, result):
    users, items = final_vectors(model)
    result.model_width = users.shape[1]
    if result.model_width != served.width:
        return
    exported = (served.user_vectors(np.arange(len(users))), served.item_vectors())
    result.vectors_identical = all(np.array_equal(a, b) for a, b in zip((users, items), exported))
    result.max_vector_error = max(float(np.abs(a - b).max(initial=0.0))
                                  for a, b in zip((users, items), exported))
    result.max_vector_entry = max(float(np.abs(a).max(initial=0.0)) for a in (users, items))


def _compare_test_split(served, loaded, result):
    """Both score sources through RecBole's masking and evaluator, batch by batch; lists from
    the export's own search where its seen items are RecBole's mask."""
    config, model = loaded.config, loaded.model
    train_data, _, test_data = loaded.loaders
    evaluations = [RecBoleEvaluation(config, train_data, ["Recall", "NDCG"], [result.k],
                                     DECIMALS) for _ in range(2)]
    item_norm = float(np.linalg.norm(served.item_vectors(), axis=1).max(initial=0.0))
    model.eval()
    for batch in test_data:
        rows = batch[0][config["USER_ID_FIELD"]].cpu().numpy() - 1
        scores = model_scores(model, batch, config["device"])
        exported = _export_scores(served, rows, batch, scores)
        evaluations[0].add(scores, batch)
        evaluations[1].add(exported, batch)
        _compare_lists(served, rows, batch, scores[:, 1:].cpu().numpy(),
                       exported[:, 1:].cpu().numpy(), item_norm, result)
    result.model_metrics, result.export_metrics = (e.result() for e in evaluations)


def _export_scores(served, rows, batch, like):
    """The export's scores of ``rows`` in RecBole's layout (column 0: padding), masked."""
    scores = served.scores(rows)
    scores = np.concatenate([np.zeros((len(rows), 1), np.float32), scores], axis=1)
    return masked(torch.from_numpy(scores).to(like.device), batch[1])


def _compare_lists(served, rows, batch, by_model, by_export, item_norm, result):
    """Tally each user's model list against the export's (its own search, or its scores under
    RecBole's mask where that differs from the exported seen items)."""
    k = result.k
    history = np.zeros(by_model.shape, bool)
    if batch[1] is not None:
        user_index, item_index = (t.cpu().numpy() for t in batch[1])
        history[user_index, item_index - 1] = True
    agrees = [np.array_equal(np.flatnonzero(history[i]), served.seen(row))
              for i, row in enumerate(rows)]
    result.mask_differs += agrees.count(False)
    served_lists = iter(served.top_item_rows([r for r, a in zip(rows, agrees) if a], k, True))
    user_norms = np.linalg.norm(served.user_vectors(rows), axis=1)
    for i, (model_items, _) in enumerate(top_k(by_model, k)):
        export_items = next(served_lists)[0] if agrees[i] else top_k(by_export[i:i + 1], k)[0][0]
        tolerance = ROUNDING_SLACK * served.width * np.finfo(np.float32).eps * \
            user_norms[i] * item_norm
        _tally(model_items, export_items, by_model[i], tolerance, result)


def _tally(model_items, export_items, scores, tolerance, result):
    result.users += 1
    result.overlap_sum += len(set(model_items) & set(export_items)) / max(len(model_items), 1)
    if np.array_equal(model_items, export_items):
        result.identical += 1
    elif len(model_items) == len(export_items) and np.all(
            np.abs(scores[model_items] - scores[export_items]) <= tolerance):
        result.near_ties += 1
