"""F1@K: hand-computed values, agreement with RecBole's Precision/Recall, and registration.

Fails without the fix: the registration tests remove ``f1`` from RecBole's registry dicts and
no-op ``register_metrics`` (as if the plugin never registered it) and show RecBole's Config
rejecting ``F1``; the value tests were checked against a deliberately wrong ``metric_info``
(``2*hits/(k*pos_len)``), which they reject.
"""

import numpy as np
import pytest
import torch
from recbole.evaluator import Evaluator, register
from recbole.evaluator.collector import DataStruct
from recbole.evaluator.metrics import Precision, Recall

import recbole_gcnprune.config as config_module
from recbole_gcnprune.metrics import F1, register_metrics

# 3 users, top-3 lists: hit pattern and number of relevant (test) items per user.
POS_INDEX = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1]], dtype=bool)
POS_LEN = np.array([2, 3, 5])
# F1@K = 2 * hits@K / (K + |R(u)|), by hand:
EXPECTED = np.array([
    [2 * 1 / (1 + 2), 2 * 1 / (2 + 2), 2 * 2 / (3 + 2)],  # 2/3, 1/2, 4/5
    [0.0, 0.0, 0.0],
    [2 * 1 / (1 + 5), 2 * 2 / (2 + 5), 2 * 3 / (3 + 5)],  # 1/3, 4/7, 3/4
])
METRIC_CONFIG = {"topk": [1, 2, 3], "metric_decimal_place": 4}


def test_f1_metric_info_hand_computed():
    result = F1(METRIC_CONFIG).metric_info(POS_INDEX, POS_LEN)
    np.testing.assert_allclose(result, EXPECTED, rtol=1e-12)


def test_f1_is_harmonic_mean_of_recbole_precision_and_recall():
    p = Precision(METRIC_CONFIG).metric_info(POS_INDEX)
    r = Recall(METRIC_CONFIG).metric_info(POS_INDEX, POS_LEN)
    with np.errstate(invalid="ignore"):
        harmonic = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    np.testing.assert_allclose(F1(METRIC_CONFIG).metric_info(POS_INDEX, POS_LEN), harmonic)


def _dataobject():
    data = DataStruct()
    rec_topk = np.concatenate([POS_INDEX.astype(np.int64), POS_LEN.reshape(-1, 1)], axis=1)
    data.set("rec.topk", torch.from_numpy(rec_topk))
    return data


def test_f1_calculate_metric_averages_users():
    result = F1(METRIC_CONFIG).calculate_metric(_dataobject())
    expected = EXPECTED.mean(axis=0)
    assert set(result) == {"f1@1", "f1@2", "f1@3"}
    for k in (1, 2, 3):
        assert result[f"f1@{k}"] == pytest.approx(round(expected[k - 1], 4), abs=1e-12)
    assert result["f1@1"] == pytest.approx(0.3333)  # (2/3 + 0 + 1/3) / 3


def test_f1_registered_in_recbole_registry():
    register_metrics()
    register_metrics()  # idempotent
    assert register.metrics_dict["f1"] is F1
    assert register.metric_types["f1"] == F1.metric_type
    assert register.metric_information["f1"] == ["rec.topk"]
    assert "f1" not in register.smaller_metrics


def test_config_accepts_f1_and_evaluator_uses_it(tiny_config_dict, make_config):
    metrics = ["Recall", "Precision", "F1", "NDCG", "Hit", "MRR"]
    config = make_config("BPR", {**tiny_config_dict, "metrics": metrics, "topk": [1, 2, 3]})
    assert config["metrics"] == metrics
    result = Evaluator(config).evaluate(_dataobject())
    assert result["f1@3"] == pytest.approx(round(EXPECTED.mean(axis=0)[2], 4))
    assert "recall@3" in result and "mrr@3" in result


def test_config_rejects_f1_without_registration(tiny_config_dict, make_config, monkeypatch):
    """Guard: without register_metrics RecBole's Config does not know F1."""
    monkeypatch.setattr(config_module, "register_metrics", lambda: None)
    for table in (register.metrics_dict, register.metric_information, register.metric_types):
        if "f1" in table:
            monkeypatch.delitem(table, "f1")
    with pytest.raises(NotImplementedError, match="no metric named 'F1'"):
        make_config("BPR", {**tiny_config_dict, "metrics": ["Recall", "F1"]})


def test_f1_at_10_in_evaluation_result(tiny_config_dict, make_config, make_data):
    from recbole_gcnprune.registry import get_model, get_trainer

    config = make_config("BPR", {**tiny_config_dict, "epochs": 1,
                                 "metrics": ["Recall", "Precision", "F1", "NDCG", "Hit", "MRR"]})
    _, (train, valid, test) = make_data(config)
    model = get_model("BPR")(config, train._dataset)
    trainer = get_trainer(config["MODEL_TYPE"], "BPR")(config, model)
    trainer.fit(train, valid, saved=False, show_progress=False)
    result = trainer.evaluate(test, load_best_model=False, show_progress=False)
    assert {"f1@10", "f1@20"} <= set(result)
    # The tiny split leaves exactly one test item per user, so per user F1@K = 2*hit/(K+1):
    # f1@K = 2 * recall@K / (K + 1) (both rounded to 4 places).
    for k in (10, 20):
        assert result[f"f1@{k}"] == pytest.approx(2 * result[f"recall@{k}"] / (k + 1), abs=2e-4)
