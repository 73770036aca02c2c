"""NDCG@20 by popularity group of the test items."""

import math

import torch

from recbole_gcnprune import popularity_metrics


def test_one_group_is_recboles_ndcg(tiny_gcn, monkeypatch):
    from recbole.trainer import Trainer

    config, dataset, (train, valid, test), model = tiny_gcn
    expected = Trainer(config, model).evaluate(test, load_best_model=False)["ndcg@20"]
    monkeypatch.setattr(popularity_metrics, "item_groups",
                        lambda train_data: torch.zeros(dataset.item_num, dtype=torch.long))
    result = popularity_metrics.ndcg_by_popularity(model, train, test)
    assert math.isclose(result["head"], expected, abs_tol=1e-4)
    assert math.isnan(result["tail"]) and result["users"]["tail"] == 0


def test_groups_split_the_training_interactions_in_thirds(tiny_gcn):
    _, dataset, (train, _, test), model = tiny_gcn
    groups = popularity_metrics.item_groups(train)
    assert groups.numel() == dataset.item_num and set(groups.tolist()) == {0, 1, 2}
    result = popularity_metrics.ndcg_by_popularity(model, train, test)
    assert all(0 <= result[name] <= 1 for name in popularity_metrics.GROUPS)
