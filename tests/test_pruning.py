"""Channel groups, importance, relaxation and physical pruning on a tiny GCNPruneGAN."""

import copy

import pytest
import torch
from conftest import all_scores
from torch import nn

from recbole_gcnprune.model.gcn_prune_gan import EMBEDDING_GROUP, hidden_group
from recbole_gcnprune.pruning.generator import (
    MaskGenerator,
    annealed_tau,
    generator_inputs,
    gumbel_sigmoid,
)
from recbole_gcnprune.pruning.groups import (
    hard_masks,
    kept_width,
    select_channels,
    top_k_indices,
)
from recbole_gcnprune.pruning.importance import MagnitudeImportance, RandomImportance
from recbole_gcnprune.pruning.report import full_sort_flops
from recbole_gcnprune.pruning.surgery import prune_channels, prune_to_widths

KEPT = {EMBEDDING_GROUP: [0, 2, 5], hidden_group(0): [1, 3], hidden_group(1): [0]}


def test_pruned_model_scores_equal_hard_masked_model(linear_gcn):
    masked = copy.deepcopy(linear_gcn)
    masked.set_channel_masks(hard_masks(masked.channel_groups(), KEPT))
    pruned = prune_channels(copy.deepcopy(linear_gcn), KEPT)
    torch.testing.assert_close(all_scores(pruned), all_scores(masked))


def test_pruned_shapes_and_weights_follow_kept_indices(linear_gcn):
    pruned = prune_channels(copy.deepcopy(linear_gcn), KEPT)
    emb, h0 = KEPT[EMBEDDING_GROUP], KEPT[hidden_group(0)]
    assert pruned.user_embedding.weight.shape == (linear_gcn.n_users, 3)
    torch.testing.assert_close(pruned.item_embedding.weight,
                               linear_gcn.item_embedding.weight[:, emb])
    down, up = pruned.transforms[0].down, pruned.transforms[0].up
    assert (down.in_features, down.out_features) == (3, 2)
    assert (up.in_features, up.out_features) == (2, 3)
    torch.testing.assert_close(down.weight, linear_gcn.transforms[0].down.weight[h0][:, emb])
    torch.testing.assert_close(up.bias, linear_gcn.transforms[0].up.bias[emb])
    assert pruned.transforms[1].down.out_features == 1
    assert {g.name: g.width for g in pruned.channel_groups()} == {k: len(v) for k, v in KEPT.items()}


def test_parameter_count_matches_analytic_count(linear_gcn):
    pruned = prune_channels(copy.deepcopy(linear_gcn), KEPT)
    d = len(KEPT[EMBEDDING_GROUP])
    expected = (pruned.n_users + pruned.n_items) * d
    for layer in range(2):
        h = len(KEPT[hidden_group(layer)])
        expected += (d * h + h) + (h * d + d)
    assert sum(p.numel() for p in pruned.parameters()) == expected


def test_flops_match_the_analytic_count_at_the_kept_widths(linear_gcn):
    pruned = prune_channels(copy.deepcopy(linear_gcn), KEPT)
    d, nodes = len(KEPT[EMBEDDING_GROUP]), pruned.n_users + pruned.n_items
    expected = 2 * 2 * pruned.adjacency._nnz() * d  # two propagations of d channels
    for layer in range(2):
        h = len(KEPT[hidden_group(layer)])
        expected += nodes * 2 * (d * h + h * d + h + d)  # down, up and their biases
    expected += 2 * pruned.n_users * pruned.n_items * d  # every user x every item
    assert full_sort_flops(pruned) == expected
    assert full_sort_flops(pruned) < full_sort_flops(linear_gcn)


def test_invalid_kept_indices_are_rejected(linear_gcn):
    with pytest.raises(ValueError, match="invalid kept indices"):
        prune_channels(linear_gcn, {**KEPT, EMBEDDING_GROUP: [0, 8]})


def test_prune_to_widths_gives_loadable_shape(linear_gcn):
    pruned = prune_channels(copy.deepcopy(linear_gcn), KEPT)
    fresh = prune_to_widths(copy.deepcopy(linear_gcn), {k: len(v) for k, v in KEPT.items()})
    fresh.load_state_dict(pruned.state_dict())
    torch.testing.assert_close(all_scores(fresh), all_scores(pruned))


def test_magnitude_importance_is_channel_energy_per_parameter_over_all_slices():
    from recbole_gcnprune.model.layers import ChannelGroup

    emb, lin = nn.Embedding(3, 2), nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        emb.weight.copy_(torch.tensor([[1.0, 0.0], [2.0, 1.0], [2.0, 0.0]]))
        lin.weight.copy_(torch.tensor([[0.0, 2.0]]))
    group = ChannelGroup("g", 2, producers=(emb,), consumers=(lin,))
    scores = MagnitudeImportance()(None, [group])["g"]
    torch.testing.assert_close(scores, torch.tensor([9.0, 5.0]) / 4)  # 3 rows + 1 column


def test_random_importance_is_seeded(linear_gcn):
    groups = linear_gcn.channel_groups()
    a, b = RandomImportance(1)(None, groups), RandomImportance(1)(None, groups)
    other = RandomImportance(2)(None, groups)
    for name in a:
        torch.testing.assert_close(a[name], b[name])
        assert not torch.equal(a[name], other[name])
        assert a[name].unique().numel() == a[name].numel()  # a ranking, no ties


def test_selection_meets_budget_exactly(linear_gcn):
    groups = linear_gcn.channel_groups()
    scores = {g.name: torch.arange(g.width, dtype=torch.float) for g in groups}
    kept = select_channels(groups, scores, prune_ratio=0.75)
    assert kept[EMBEDDING_GROUP] == [6, 7]
    assert kept[hidden_group(0)] == [3]
    assert kept_width(64, 0.9) == 6 and kept_width(4, 0.99) == 1
    assert top_k_indices(torch.tensor([0.5, 0.5, 0.9]), 2) == [0, 2]


def test_gumbel_sigmoid_is_a_differentiable_relaxation():
    logits = torch.tensor([-4.0, 0.0, 4.0], requires_grad=True)
    sample = gumbel_sigmoid(logits, tau=0.5, generator=torch.Generator().manual_seed(0))
    assert ((sample > 0) & (sample < 1)).all()
    sample.sum().backward()
    assert logits.grad.abs().sum() > 0
    assert annealed_tau(0, 10, 1.0, 0.1) == 1.0
    assert annealed_tau(9, 10, 1.0, 0.1) == pytest.approx(0.1)


def test_gumbel_noise_is_the_logistic_of_the_generators_uniform_draws():
    """The same draws as ``torch.rand(shape, generator=...)``: searches keep their numbers."""
    logits = torch.tensor([-1.0, 0.5, 2.0])
    u = torch.rand(3, generator=torch.Generator().manual_seed(7)).clamp(1e-6, 1 - 1e-6)
    expected = torch.sigmoid((logits + torch.log(u) - torch.log1p(-u)) / 0.5)
    torch.testing.assert_close(
        gumbel_sigmoid(logits, 0.5, torch.Generator().manual_seed(7)), expected, rtol=0, atol=0)


def test_generator_emits_logits_for_every_channel(linear_gcn):
    groups = linear_gcn.channel_groups()
    generator = MaskGenerator({g.name: g.width for g in groups}, init_keep=0.9)
    logits = generator(generator_inputs(groups, linear_gcn.group_popularity()))
    assert {k: v.shape[0] for k, v in logits.items()} == {g.name: g.width for g in groups}
    torch.testing.assert_close(torch.sigmoid(logits[EMBEDDING_GROUP]), torch.full((8,), 0.9))
