"""Principal-basis rotation: the function is unchanged, the leading channels carry the signal."""

import copy

import pytest
import torch
from conftest import all_scores

from recbole_gcnprune.model.gcn_prune_gan import EMBEDDING_GROUP
from recbole_gcnprune.pruning.rotation import principal_basis, rotate_to_principal_basis
from recbole_gcnprune.pruning.surgery import prune_channels


@pytest.fixture
def plain_gcn(make_config, make_data, small_model_dict):
    from recbole_gcnprune.model import GCNPruneGAN

    config = make_config("GCNPruneGAN", small_model_dict)
    _, (train, _, _) = make_data(config)
    torch.manual_seed(0)
    return GCNPruneGAN(config, train._dataset).eval()


def rotated(model):
    clone = copy.deepcopy(model)
    with torch.no_grad():
        users, items = clone.forward()
    shares = rotate_to_principal_basis(clone, EMBEDDING_GROUP, users, items)
    return clone, shares


@pytest.mark.parametrize("model_name", ["plain_gcn", "linear_gcn"])
def test_rotation_leaves_every_score_unchanged(model_name, request):
    model = request.getfixturevalue(model_name)
    clone, _ = rotated(model)
    assert not torch.allclose(clone.user_embedding.weight, model.user_embedding.weight)
    torch.testing.assert_close(all_scores(clone), all_scores(model), rtol=1e-4, atol=1e-5)


def test_principal_basis_is_orthogonal_and_ordered():
    torch.manual_seed(1)
    users = torch.randn(30, 6) * torch.tensor([0.1, 3.0, 0.5, 1.0, 2.0, 0.2])
    items = torch.randn(20, 6)
    basis, eigenvalues = principal_basis(users, items)
    torch.testing.assert_close(basis.T @ basis, torch.eye(6), rtol=0, atol=1e-5)
    energy = ((users @ basis) ** 2).sum(0) + ((items @ basis) ** 2).sum(0)
    assert torch.all(energy[:-1] >= energy[1:])
    torch.testing.assert_close(eigenvalues, energy, rtol=1e-4, atol=1e-4)


def test_leading_channels_keep_more_of_the_scores_than_the_original_basis(plain_gcn):
    clone, shares = rotated(plain_gcn)
    assert sum(shares) == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(shares, shares[1:]))
    dense = all_scores(plain_gcn)
    kept = {EMBEDDING_GROUP: [0, 1, 2, 3]}
    cut_rotated = all_scores(prune_channels(clone, kept))
    cut_trained = all_scores(prune_channels(copy.deepcopy(plain_gcn), kept))
    assert (cut_rotated - dense).norm() < (cut_trained - dense).norm()
