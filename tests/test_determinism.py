"""deterministic_algorithms: on inside the block when asked, the previous setting after it."""

import pytest
import torch

from recbole_gcnprune.determinism import deterministic_algorithms


@pytest.fixture
def restore_torch_setting():
    yield
    torch.use_deterministic_algorithms(False)


def test_the_block_warns_instead_of_failing_and_restores_after_an_exception(restore_torch_setting):
    with pytest.raises(RuntimeError, match="inside"):
        with deterministic_algorithms(True):
            assert torch.are_deterministic_algorithms_enabled()
            assert torch.is_deterministic_algorithms_warn_only_enabled()
            raise RuntimeError("raised inside")
    assert not torch.are_deterministic_algorithms_enabled()


def test_a_callers_strict_setting_stays_strict_inside_and_after(restore_torch_setting):
    torch.use_deterministic_algorithms(True)
    with deterministic_algorithms(True), deterministic_algorithms(True):
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.are_deterministic_algorithms_enabled()
    assert not torch.is_deterministic_algorithms_warn_only_enabled()


def test_disabled_changes_nothing(restore_torch_setting):
    with deterministic_algorithms(False):
        assert not torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    with deterministic_algorithms(False):
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.are_deterministic_algorithms_enabled()
