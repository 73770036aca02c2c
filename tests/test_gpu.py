"""Every criterion on a CUDA device (skipped without one). The CPU tests cannot catch device
mix-ups: a CPU random generator drawing CUDA noise, or training batches left on the CPU."""

import pytest
import torch
from pruning_runs import build, fit_and_test

from recbole_gcnprune.pruning.generator import gumbel_sigmoid

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
def test_gumbel_noise_from_a_cpu_generator_reaches_cuda_logits():
    generator = torch.Generator().manual_seed(0)
    sample = gumbel_sigmoid(torch.zeros(5, device="cuda"), 1.0, generator)
    assert sample.device.type == "cuda"
    expected = gumbel_sigmoid(torch.zeros(5), 1.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(sample.cpu(), expected)


@needs_cuda
@pytest.mark.parametrize("criterion", ["gan", "magnitude", "taylor", "random", "train_small"])
def test_each_criterion_runs_on_cuda(make_config, make_data, prune_dict, criterion):
    _, loaders, _, trainer = build(make_config, make_data, {
        **prune_dict, "prune_criterion": criterion, "use_gpu": True})
    result = fit_and_test(trainer, loaders)
    assert "ndcg@20" in result
    assert all(p.device.type == "cuda" for p in trainer.model.parameters())
