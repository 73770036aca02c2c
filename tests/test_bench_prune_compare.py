"""bench.prune_compare's per-user NDCG@20, the base of its --user-paired differences."""

import math

from bench.prune_compare import ndcg_per_user


def test_per_user_ndcg_averages_to_recboles(tiny_gcn):
    from recbole.trainer import Trainer

    config, dataset, (train, valid, test), model = tiny_gcn
    expected = Trainer(config, model).evaluate(test, load_best_model=False)["ndcg@20"]
    per_user = ndcg_per_user(config, model, test)
    assert len(per_user) == len(set(test._dataset.inter_feat[dataset.uid_field].tolist()))
    assert math.isclose(per_user.mean(), expected, abs_tol=1e-4)
