"""GCNPruneGAN on tiny data: shapes, the full-sort cache, channel groups and masks, the custom
propagation gradient, training and seeding.

How each was checked to fail without its fix:
* cache tests: with ``train()`` / ``set_channel_masks`` not dropping the cache (monkeypatched
  ``drop_cached_embeddings`` to a no-op) the scores are stale and ``assert_close`` fails;
* mask-vs-slicing tests: with the ``x = x * embedding_mask`` after each transform removed, the
  masked channels leak back through ``up``'s rows and the linear case fails;
* propagate gradient: with a backward returning ``grad_out`` unchanged (no ``A @``), gradcheck fails;
* seeding: with ``quick_start.init_seed`` monkeypatched to a no-op the two runs differ.
"""

from pathlib import Path

import pytest
import torch
from recbole.data.interaction import Interaction
from recbole.utils import init_seed

from recbole_gcnprune.model import GCNPruneGAN
from recbole_gcnprune.model.gcn_prune_gan import EMBEDDING_GROUP, ccl_loss, hidden_group
from recbole_gcnprune.model.layers import (
    SCORE_ROW_FLOATS,
    BottleneckTransform,
    dot_scores,
    pad_rows,
    propagate,
)


def _build(make_config, make_data, config_dict, dataset=None, **overrides):
    config = make_config("GCNPruneGAN", {**config_dict, **overrides})
    if dataset is None:
        _, loaders = make_data(config)
        dataset = loaders[0]._dataset
    init_seed(config["seed"], config["reproducibility"])
    return config, dataset, GCNPruneGAN(config, dataset)


def _randomise_transforms(model, seed=0):
    """``up`` starts at zero (identity transform); give it weights so the transforms matter."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for transform in model.transforms:
            transform.up.weight.copy_(torch.randn(transform.up.weight.shape, generator=gen) * 0.5)
            transform.up.bias.copy_(torch.randn(transform.up.bias.shape, generator=gen) * 0.1)


@pytest.fixture
def linear_gcn(small_model_dict, make_config, make_data):
    config, dataset, model = _build(make_config, make_data, small_model_dict,
                                    layer_transform="linear")
    _randomise_transforms(model)
    return config, dataset, model


def _users(model, ids=(1, 2, 5)):
    return Interaction({model.USER_ID: torch.tensor(ids)})


def _expected_full_sort(model, users):
    with torch.no_grad():
        user_all, item_all = model.forward()
    return user_all[users[model.USER_ID]] @ item_all.T


def test_full_sort_rows_are_cache_line_aligned(tiny_gcn):
    *_, model = tiny_gcn
    users = _users(model)
    model.eval()
    with torch.no_grad():
        full = model.full_sort_predict(users)
    assert full.shape == (3, model.n_items)
    assert full.stride(0) % SCORE_ROW_FLOATS == 0 and full.stride(0) >= model.n_items
    torch.testing.assert_close(full, _expected_full_sort(model, users))
    # RecBole's trainer reshapes the scores this way before masking and ranking them
    full.view(-1, model.n_items)[:, 0] = -float("inf")
    assert torch.isinf(full[:, 0]).all()


def test_pad_rows_and_dot_scores():
    items = torch.randn(9, 4)
    padded = pad_rows(items, multiple=8)
    assert padded.shape == (16, 4)
    torch.testing.assert_close(padded[:9], items)
    assert not padded[9:].any()
    assert pad_rows(padded, multiple=8) is padded
    users = torch.randn(3, 4)
    torch.testing.assert_close(dot_scores(users, padded, 9), users @ items.T)


# ---------------------------------------------------------------------------------- shapes
def test_shapes(tiny_gcn):
    config, _, (train, _, _), model = tiny_gcn
    width = config["embedding_size"]
    user_all, item_all = model.forward()
    assert user_all.shape == (model.n_users, width)
    assert item_all.shape == (model.n_items, width)

    batch = next(iter(train))
    loss = model.calculate_loss(batch)
    # a scalar (shape (1,) with reg_weight, from RecBole's EmbLoss, as in RecBole's LightGCN)
    assert loss.numel() == 1 and torch.isfinite(loss).all()
    loss.backward()
    assert model.user_embedding.weight.grad is not None

    model.eval()
    with torch.no_grad():
        scores = model.predict(batch)
        users = _users(model)
        full = model.full_sort_predict(users)
    assert scores.shape == (len(batch),)
    # one batch of users -> batch x n_items scores, nothing more
    assert full.shape == (3, model.n_items)
    # row j of the full sort is user j against every item, consistent with predict()
    pairs = Interaction({model.USER_ID: torch.tensor([2, 2]), model.ITEM_ID: torch.tensor([4, 7])})
    with torch.no_grad():
        torch.testing.assert_close(full.view(-1, model.n_items)[1, [4, 7]], model.predict(pairs))


# ----------------------------------------------------------------------------------- cache
def test_cache_dropped_on_train_eval_switch(tiny_gcn):
    *_, model = tiny_gcn
    users = _users(model)
    model.eval()
    before = model.full_sort_predict(users)
    assert model.restore_user_e is not None
    model.train()
    assert model.restore_user_e is None and model.restore_item_e is None
    with torch.no_grad():
        model.user_embedding.weight.add_(0.5)  # as a training step would
    model.eval()
    after = model.full_sort_predict(users)
    torch.testing.assert_close(after, _expected_full_sort(model, users))
    assert not torch.allclose(after, before)
    model.eval()  # eval -> eval also drops it
    assert model.restore_user_e is None


def test_cache_dropped_on_set_channel_masks(tiny_gcn):
    config, *_, model = tiny_gcn
    users = _users(model)
    model.eval()
    unmasked = model.full_sort_predict(users)
    mask = torch.ones(config["embedding_size"])
    mask[::2] = 0.0
    model.set_channel_masks({EMBEDDING_GROUP: mask})
    assert model.restore_user_e is None
    masked = model.full_sort_predict(users)
    torch.testing.assert_close(masked, _expected_full_sort(model, users))
    assert not torch.allclose(masked, unmasked)
    model.set_channel_masks({})  # {} restores the unmasked model
    torch.testing.assert_close(model.full_sort_predict(users), unmasked)


def test_full_sort_uses_cache_in_eval(tiny_gcn):
    *_, model = tiny_gcn
    model.eval()
    model.full_sort_predict(_users(model))
    cached = model.restore_user_e
    model.full_sort_predict(_users(model, (3, 4)))
    assert model.restore_user_e is cached


# ------------------------------------------------------------------------- channel groups
def test_channel_groups_linear(linear_gcn):
    config, _, model = linear_gcn
    groups = model.channel_groups()
    assert [g.name for g in groups] == [EMBEDDING_GROUP, hidden_group(0), hidden_group(1)]
    assert [g.width for g in groups] == [config["embedding_size"]] + [config["transform_size"]] * 2
    embedding = groups[0]
    assert embedding.producers[:2] == (model.user_embedding, model.item_embedding)
    assert set(map(id, embedding.producers[2:])) == {id(t.up) for t in model.transforms}
    assert set(map(id, embedding.consumers)) == {id(t.down) for t in model.transforms}
    for layer, group in enumerate(groups[1:]):
        assert group.producers == (model.transforms[layer].down,)
        assert group.consumers == (model.transforms[layer].up,)


def test_channel_groups_none(tiny_gcn):
    config, *_, model = tiny_gcn
    assert config["layer_transform"] == "none"
    groups = model.channel_groups()
    assert [(g.name, g.width) for g in groups] == [(EMBEDDING_GROUP, config["embedding_size"])]
    assert groups[0].consumers == ()


# ----------------------------------------------------------------------------------- masks
@pytest.mark.parametrize("layer_transform", ["none", "linear"])
def test_all_ones_masks_equal_unmasked(layer_transform, small_model_dict, make_config, make_data):
    _, _, model = _build(make_config, make_data, small_model_dict, layer_transform=layer_transform)
    _randomise_transforms(model)
    model.eval()
    users = _users(model, tuple(range(1, model.n_users)))
    unmasked = model.full_sort_predict(users)
    model.set_channel_masks({g.name: torch.ones(g.width) for g in model.channel_groups()})
    torch.testing.assert_close(model.full_sort_predict(users), unmasked)


@pytest.mark.parametrize("ranking_loss, ccl_item_norm", [("bpr", True), ("ccl", True),
                                                          ("ccl", False)])
def test_a_linear_model_masked_equals_its_propagated_outputs_masked(
        ranking_loss, ccl_item_norm, small_model_dict, make_config, make_data):
    _, _, model = _build(make_config, make_data, small_model_dict, ranking_loss=ranking_loss,
                         ccl_item_norm=ccl_item_norm)
    assert model.masks_commute_with_propagation()
    mask = torch.rand(model.embedding_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        user, item = model.propagated()
        model.set_channel_masks({EMBEDDING_GROUP: mask})
        masked = model.forward()
    for got, expected in zip(model.normalised(user * mask, item * mask), masked):
        torch.testing.assert_close(got, expected)


def test_transforms_do_not_commute_with_masks(linear_gcn):
    _, _, model = linear_gcn
    assert not model.masks_commute_with_propagation()
    mask = torch.linspace(0, 1, model.embedding_size)
    with torch.no_grad():
        user, _ = model.propagated()
        model.set_channel_masks({EMBEDDING_GROUP: mask})
        masked_user, _ = model.propagated()
    assert not torch.allclose(user * mask, masked_user)


@pytest.mark.parametrize("layer_transform, ranking_loss",
                         [("none", "bpr"), ("linear", "bpr"), ("linear", "ccl")])
def test_hard_embedding_mask_equals_slicing(layer_transform, ranking_loss, small_model_dict,
                                            make_config, make_data):
    config, dataset, big = _build(make_config, make_data, small_model_dict,
                                  layer_transform=layer_transform, ranking_loss=ranking_loss)
    _randomise_transforms(big)
    keep = torch.tensor([0, 2, 3, 6])
    mask = torch.zeros(config["embedding_size"])
    mask[keep] = 1.0
    big.set_channel_masks({EMBEDDING_GROUP: mask})

    # The physically pruned model, by hand: only the kept embedding columns.
    _, _, small = _build(make_config, make_data, small_model_dict, dataset=dataset,
                         layer_transform=layer_transform, ranking_loss=ranking_loss,
                         embedding_size=len(keep))
    with torch.no_grad():
        small.user_embedding.weight.copy_(big.user_embedding.weight[:, keep])
        small.item_embedding.weight.copy_(big.item_embedding.weight[:, keep])
        for s, b in zip(small.transforms, big.transforms):
            s.down.weight.copy_(b.down.weight[:, keep])
            s.down.bias.copy_(b.down.bias)
            s.up.weight.copy_(b.up.weight[keep])
            s.up.bias.copy_(b.up.bias[keep])

    big.eval()
    small.eval()
    users = _users(big, tuple(range(1, big.n_users)))
    torch.testing.assert_close(big.full_sort_predict(users), small.full_sort_predict(users))


def test_hard_hidden_mask_equals_slicing(linear_gcn, small_model_dict, make_config, make_data):
    config, dataset, big = linear_gcn
    keep = torch.tensor([1, 3])
    mask = torch.zeros(config["transform_size"])
    mask[keep] = 1.0
    big.set_channel_masks({hidden_group(layer): mask for layer in range(config["n_layers"])})

    _, _, small = _build(make_config, make_data, small_model_dict, dataset=dataset,
                         layer_transform="linear", transform_size=len(keep))
    with torch.no_grad():
        small.user_embedding.weight.copy_(big.user_embedding.weight)
        small.item_embedding.weight.copy_(big.item_embedding.weight)
        for s, b in zip(small.transforms, big.transforms):
            s.down.weight.copy_(b.down.weight[keep])
            s.down.bias.copy_(b.down.bias[keep])
            s.up.weight.copy_(b.up.weight[:, keep])
            s.up.bias.copy_(b.up.bias)

    big.eval()
    small.eval()
    users = _users(big, tuple(range(1, big.n_users)))
    torch.testing.assert_close(big.full_sort_predict(users), small.full_sort_predict(users))


def test_untrained_transform_is_identity():
    transform = BottleneckTransform(6, 3)
    x = torch.randn(5, 6)
    torch.testing.assert_close(transform(x), x)


# ------------------------------------------------------------------------------ propagate
def _symmetric_csr(n=6, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    dense = torch.rand(n, n, generator=gen, dtype=dtype)
    dense = dense * (torch.rand(n, n, generator=gen, dtype=dtype) > 0.5)
    dense = dense + dense.T
    return dense, dense.to_sparse_csr()


def test_propagate_gradcheck():
    _, csr = _symmetric_csr()
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: propagate(csr, inp), (x,))


def test_propagate_matches_dense_matmul(tiny_gcn):
    *_, model = tiny_gcn
    adjacency = model.adjacency
    dense = adjacency.to_dense()
    x = torch.randn(dense.shape[0], 4, requires_grad=True)
    x_dense = x.detach().clone().requires_grad_(True)
    grad_out = torch.randn(dense.shape[0], 4)

    out = propagate(adjacency, x)
    out.backward(grad_out)
    expected = dense @ x_dense
    expected.backward(grad_out)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(x.grad, x_dense.grad)


@pytest.mark.parametrize("transform", ["none", "linear"])
def test_scoring_path_without_autograd_equals_the_traced_path(
    small_model_dict, make_config, make_data, transform
):
    """Without autograd, ``propagated`` reads the embedding weights and calls the sparse
    product directly (``ego_embeddings``, ``propagate``); it computes the same to the bit."""
    *_, model = _build(make_config, make_data, small_model_dict, layer_transform=transform)
    _randomise_transforms(model)
    width = model.embedding_size
    model.set_channel_masks({EMBEDDING_GROUP: torch.linspace(0.1, 1.0, width)})
    traced = [t.detach() for t in model.propagated()]
    with torch.no_grad():
        untraced = model.propagated()
    for got, expected in zip(untraced, traced):
        assert torch.equal(got, expected)


def test_embeddings_are_called_while_autograd_records(tiny_gcn):
    """torch-pruning traces only embeddings that are called: the autograd path calls both."""
    *_, model = tiny_gcn
    called = []
    for table in (model.user_embedding, model.item_embedding):
        table.register_forward_hook(lambda module, *_: called.append(module))
    model.propagated()
    assert called == [model.user_embedding, model.item_embedding]
    called.clear()
    with torch.no_grad():
        model.propagated()
    assert called == []


# ------------------------------------------------------------------------------- training
def _losses_under_adam(model, batch, steps=8):
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = model.calculate_loss(batch)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_loss_decreases(tiny_gcn):
    *_, (train, _, _), model = tiny_gcn
    losses = _losses_under_adam(model, next(iter(train)))
    assert losses[-1] < losses[0] * 0.9, losses


# ------------------------------------------------------------------------ ranking_loss: ccl
def test_ccl_scores_are_cosines(small_model_dict, make_config, make_data):
    _, _, model = _build(make_config, make_data, small_model_dict, ranking_loss="ccl")
    model.eval()
    user_all, item_all = model.forward()
    torch.testing.assert_close(user_all.norm(dim=1), torch.ones(model.n_users))
    torch.testing.assert_close(item_all.norm(dim=1), torch.ones(model.n_items))
    scores = model.full_sort_predict(_users(model))
    assert scores.abs().max() <= 1 + 1e-5


def test_ccl_without_item_norm_normalises_users_only(small_model_dict, make_config, make_data):
    _, _, model = _build(make_config, make_data, small_model_dict, ranking_loss="ccl",
                         ccl_item_norm=False)
    user_all, item_all = model.forward()
    torch.testing.assert_close(user_all.norm(dim=1), torch.ones(model.n_users))
    assert item_all.norm(dim=1).std() > 1e-3  # item norms left free (popularity can live there)


def test_ccl_loss_is_simplex_formula():
    pos = torch.tensor([0.9, 0.2])
    neg = torch.tensor([[0.7, 0.1], [0.4, 0.8]])
    # per user: relu(1 - pos) + weight * mean(relu(neg - margin))
    expected = ((0.1 + 10 * (0.2 + 0.0) / 2) + (0.8 + 10 * (0.0 + 0.3) / 2)) / 2
    torch.testing.assert_close(ccl_loss(pos, neg, 0.5, 10), torch.tensor(expected))
    torch.testing.assert_close(ccl_loss(pos, neg[:, 0], 0.5, 10),
                               torch.tensor(((0.1 + 2.0) + 0.8) / 2))


def test_ccl_model_trains(small_model_dict, make_config, make_data):
    config, _, model = _build(make_config, make_data, small_model_dict, ranking_loss="ccl",
                              reg_weight=0.0)
    _, (train, _, _) = make_data(config)
    batch = next(iter(train))
    user_all, item_all = model.forward()
    u = user_all[batch[model.USER_ID]]
    expected = ccl_loss((u * item_all[batch[model.ITEM_ID]]).sum(1),
                        (u * item_all[batch[model.NEG_ITEM_ID]]).sum(1), 0.5, 10)
    torch.testing.assert_close(model.calculate_loss(batch), expected)
    losses = _losses_under_adam(model, batch)
    assert losses[-1] < losses[0] * 0.9, losses


def _run_twice_and_once_more(config_dict, tmp_path):
    from recbole_gcnprune.quick_start import run_recbole_prune

    results, states = [], []
    for run, seed in enumerate((2020, 2020, 7)):
        saved = tmp_path / f"saved{run}"
        result = run_recbole_prune("GCNPruneGAN", "tiny", config_dict={
            **config_dict, "checkpoint_dir": str(saved), "seed": seed})
        checkpoints = sorted(Path(saved).rglob("*.pth"))
        assert checkpoints, "run_recbole_prune saved no checkpoint"
        results.append(result)
        states.append([torch.load(p, weights_only=True)["state_dict"] for p in checkpoints])
    return results, states


def test_same_seed_same_parameters_and_metrics(small_model_dict, tmp_path):
    results, states = _run_twice_and_once_more({**small_model_dict, "epochs": 2}, tmp_path)
    assert results[0]["test_result"] == results[1]["test_result"]
    assert results[0]["best_valid_result"] == results[1]["best_valid_result"]
    assert len(states[0]) == len(states[1])
    for first, second in zip(states[0], states[1]):
        assert first.keys() == second.keys()
        for name in first:
            assert torch.equal(first[name], second[name]), name
    # ... and the comparison is not vacuous: another seed gives other parameters
    other = states[2][0]
    assert any(not torch.equal(states[0][0][n], other[n]) for n in other)


def test_gcnprunegan_offers_what_the_pruning_trainer_relies_on(tiny_gcn):
    from recbole_gcnprune.model.protocol import PrunableRecommender

    assert isinstance(tiny_gcn[3], PrunableRecommender)
    assert not isinstance(torch.nn.Linear(2, 2), PrunableRecommender)
