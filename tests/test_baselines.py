"""NeuMF's batched full-sort scorer (recbole_gcnprune.baselines.neumf): the scores of RecBole's
own pairwise path, to float rounding, in RecBole's evaluation too."""

import pytest
import torch
from recbole.data.interaction import Interaction
from recbole.model.abstract_recommender import AbstractRecommender
from recbole.model.general_recommender.neumf import NeuMF
from recbole.model.layers import MLPLayers

from recbole_gcnprune.baselines import neumf
from recbole_gcnprune.registry import get_trainer


def _tiny_neumf(make_config, make_data, config_dict, **overrides):
    """NeuMF on the tiny data, embeddings drawn at std 1 (not RecBole's 0.01) so the ReLUs bite."""
    config = make_config("NeuMF", {**config_dict, "mlp_hidden_size": [16, 8],
                                   "mf_embedding_size": 8, "mlp_embedding_size": 8, **overrides})
    _, (train, valid, test) = make_data(config)
    torch.manual_seed(0)
    model = NeuMF(config, train._dataset)
    with torch.no_grad():
        for embedding in (model.user_mf_embedding, model.item_mf_embedding,
                          model.user_mlp_embedding, model.item_mlp_embedding):
            embedding.weight.normal_(0, 1)
    return config, model, (train, valid, test)


def _pairwise_scores(model, users):
    """``sigmoid(forward)`` of every (user, item) pair, as RecBole's fallback scores them."""
    items = torch.arange(model.n_items)
    return torch.sigmoid(
        model.forward(users.repeat_interleave(model.n_items), items.repeat(len(users)))
    ).view(len(users), model.n_items)


@pytest.mark.parametrize("parts", [
    {},
    {"mlp_train": False},
    {"mf_train": False},
])
def test_neumf_full_sort_predict_matches_predict(tiny_config_dict, make_config, make_data, parts):
    _, model, _ = _tiny_neumf(make_config, make_data, tiny_config_dict, **parts)
    model.eval()
    users = torch.arange(1, model.n_users)  # 59 real users
    inter = Interaction({model.USER_ID: users})
    with torch.no_grad():
        expected = _pairwise_scores(model, users)
        assert expected.std() > 0.01  # not a flat sigmoid(0)
        by_predict = model.predict(Interaction({
            model.USER_ID: users.repeat_interleave(model.n_items),
            model.ITEM_ID: torch.arange(model.n_items).repeat(len(users)),
        }))
        torch.testing.assert_close(by_predict.view(len(users), -1), expected)
        # Default (one chunk), then 4 users per chunk: 59 = 14 x 4 + 3, a ragged last chunk.
        widest = max(model.mlp_hidden_size) if model.mlp_train else 1
        for chunk_floats in (None, 4 * model.n_items * widest + 1):
            scores = model.full_sort_predict(inter, chunk_floats=chunk_floats)
            assert scores.shape == (len(users) * model.n_items,)
            torch.testing.assert_close(scores.view(len(users), model.n_items), expected)


def test_neumf_full_sort_predict_falls_back_when_the_mlp_does_not_split(
    tiny_config_dict, make_config, make_data
):
    """BatchNorm in the MLP (eval), or NeuMF's input Dropout in training mode: every pair goes
    through ``forward`` (same dropout masks under the same seed)."""
    _, model, _ = _tiny_neumf(make_config, make_data, tiny_config_dict, dropout_prob=0.5)
    users = torch.arange(1, model.n_users)
    inter = Interaction({model.USER_ID: users})
    with torch.no_grad():
        model.train()
        assert neumf._neumf_mlp_split(model) is None
        torch.manual_seed(1)
        scores = model.full_sort_predict(inter)
        torch.manual_seed(1)
        torch.testing.assert_close(scores.view(len(users), -1), _pairwise_scores(model, users))

        model.mlp_layers = MLPLayers([16, 16, 8], 0.5, bn=True)
        model.train()
        model.mlp_layers(torch.randn(64, 16))  # move the running statistics off 0/1
        model.eval()
        assert neumf._neumf_mlp_split(model) is None
        torch.testing.assert_close(model.full_sort_predict(inter, chunk_floats=10_000)
                                   .view(len(users), -1), _pairwise_scores(model, users))


def test_neumf_full_sort_predict_in_recbole_evaluation(tiny_config_dict, make_config, make_data,
                                                       monkeypatch):
    """RecBole's trainer takes the batched path and gets the metrics of its own pairwise
    fallback; without it NeuMF has no full sort (RecBole's base class raises)."""
    config, model, (train, valid, _) = _tiny_neumf(make_config, make_data, tiny_config_dict)
    assert NeuMF.full_sort_predict is neumf.neumf_full_sort_predict
    trainer = get_trainer(config["MODEL_TYPE"], "NeuMF")(config, model)
    trainer.fit(train, valid, saved=False, show_progress=False)
    batched = trainer.evaluate(valid, load_best_model=False, show_progress=False)

    monkeypatch.setattr(NeuMF, "full_sort_predict", AbstractRecommender.full_sort_predict)
    with pytest.raises(NotImplementedError):
        model.full_sort_predict(Interaction({model.USER_ID: torch.arange(1, 3)}))
    without = trainer.evaluate(valid, load_best_model=False, show_progress=False)
    assert batched == pytest.approx(without)


def test_neumf_shim_leaves_recbole_own_full_sort_predict(monkeypatch):
    def recbole_own(self, interaction):
        raise AssertionError("not called")

    monkeypatch.setattr(NeuMF, "full_sort_predict", recbole_own)
    neumf.install()
    assert NeuMF.full_sort_predict is recbole_own
