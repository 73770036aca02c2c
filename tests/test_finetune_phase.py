"""GANPruneTrainer's fine-tuning on tiny data: distillation from the teacher, the shrunk start,
its own schedule, learning rate and stopping delta."""

import os

import pytest
import torch
from pruning_runs import build, fit_recording

from recbole_gcnprune.pruning.distill import RankingDistillation
from recbole_gcnprune.trainer import GANPruneTrainer


@pytest.mark.parametrize("criterion, distils", [("magnitude", True), ("gan", True),
                                                ("train_small", False), ("distill_small", True)])
def test_finetuning_distils_from_the_teacher_except_from_scratch(
        make_config, make_data, prune_dict, monkeypatch, criterion, distils):
    calls = []
    original = RankingDistillation.loss
    monkeypatch.setattr(RankingDistillation, "loss",
                        lambda self, *a: calls.append(1) or original(self, *a))
    _, loaders, _, trainer = build(make_config, make_data,
                                   {**prune_dict, "prune_criterion": criterion})
    searched = len(calls)
    trainer.fit(loaders[0], loaders[1], saved=True)
    assert (len(calls) > searched) == distils
    assert trainer.distillation is None  # not carried past fine-tuning


def test_zero_weight_fine_tunes_on_bpr_alone(make_config, make_data, prune_dict, monkeypatch):
    monkeypatch.setattr(GANPruneTrainer, "_distilled_loss",
                        lambda *a: pytest.fail("distilled while the weight is 0"))
    _, loaders, _, trainer = build(make_config, make_data,
                                   {**prune_dict, "prune_criterion": "magnitude",
                                    "finetune_distill_weight": 0.0})
    trainer.fit(loaders[0], loaders[1], saved=True)
    assert os.path.basename(trainer.saved_model_file) == "finetune.pth"  # fine-tuning ran


def test_fine_tuning_resumed_after_selection_distils_from_the_reloaded_teacher(
        make_config, make_data, prune_dict, monkeypatch):
    _, loaders, _, trainer = build(make_config, make_data, {**prune_dict,
                                                            "prune_criterion": "magnitude"})
    trainer.fit(loaders[0], loaders[1], saved=True)
    teacher = trainer.teacher_embeddings
    for name in ("finetune.json", "finetune.pth"):  # as if interrupted while fine-tuning
        os.remove(os.path.join(trainer.run_dir, name))
    monkeypatch.setattr(GANPruneTrainer, "_select",
                        lambda *a: pytest.fail("selection ran again"))
    _, loaders, _, again = build(make_config, make_data, {**prune_dict,
                                                          "prune_criterion": "magnitude"})
    again.fit(loaders[0], loaders[1], saved=True)
    torch.testing.assert_close(again.teacher_embeddings, teacher)
    assert again.report["kept"] == trainer.report["kept"]


def test_distill_small_starts_from_scratch_not_from_the_teacher(make_config, make_data, prune_dict,
                                                                monkeypatch):
    from recbole_gcnprune.pruning.surgery import prune_channels

    pruned_weights = {}

    def record(model, kept):
        prune_channels(model, kept)
        pruned_weights["user"] = model.user_embedding.weight.detach().clone()

    monkeypatch.setattr("recbole_gcnprune.trainer.gan_prune_trainer.prune_channels", record)
    monkeypatch.setattr(GANPruneTrainer, "_finetune", lambda self, *a: (0.0, {}))
    _, loaders, _, trainer = build(make_config, make_data,
                                   {**prune_dict, "prune_criterion": "distill_small"})
    trainer.fit(loaders[0], loaders[1], saved=True)
    assert trainer.teacher_embeddings is not None  # the teacher is there to distil from
    assert not torch.equal(trainer.model.user_embedding.weight, pruned_weights["user"])


def test_shrink_and_perturb_mixes_inherited_and_fresh_weights(make_config, make_data, prune_dict,
                                                              monkeypatch):
    _, _, model, trainer = build(make_config, make_data, {**prune_dict, "inherit_weight": 0.25})
    inherited = model.user_embedding.weight.detach().clone()
    monkeypatch.setattr(model, "_init_weights", lambda: model.user_embedding.weight.fill_(2.0))
    trainer._shrink_and_perturb()
    torch.testing.assert_close(model.user_embedding.weight.detach(), 0.25 * inherited + 0.75 * 2.0)


def test_a_fresh_start_resets_the_bottlenecks_too(make_config, make_data, prune_dict):
    _, _, model, trainer = build(make_config, make_data, {**prune_dict, "inherit_weight": 0.25})
    up = model.transforms[0].up
    with torch.no_grad():
        up.weight.fill_(1.0)
        up.bias.fill_(1.0)
    trainer._shrink_and_perturb()  # a fresh bottleneck is the identity: up = 0
    torch.testing.assert_close(up.weight.detach(), torch.full_like(up.weight, 0.25))
    torch.testing.assert_close(up.bias.detach(), torch.full_like(up.bias, 0.25))


@pytest.mark.parametrize(("criterion", "inherit_weight", "shrinks"), [
    ("magnitude", 0.5, True), ("magnitude", 1.0, False), ("distill_small", 0.5, False),
    ("gan", None, True)])  # None: the packaged default (0.25)
def test_only_inherited_weights_are_shrunk(make_config, make_data, prune_dict, monkeypatch,
                                           criterion, inherit_weight, shrinks):
    calls = []
    monkeypatch.setattr(GANPruneTrainer, "_shrink_and_perturb", lambda self: calls.append(1))
    monkeypatch.setattr(GANPruneTrainer, "_finetune", lambda self, *a: (0.0, {}))
    config_dict = {**prune_dict, "prune_criterion": criterion}
    if inherit_weight is not None:
        config_dict["inherit_weight"] = inherit_weight
    _, loaders, _, trainer = build(make_config, make_data, config_dict)
    trainer.fit(loaders[0], loaders[1], saved=True)
    assert calls == ([1] if shrinks else [])


def test_inherit_weight_outside_zero_one_is_a_config_error(make_config, prune_dict):
    from recbole_gcnprune.errors import ConfigError

    with pytest.raises(ConfigError, match=r"inherit_weight=1.5.*in \[0, 1\]"):
        make_config("GCNPruneGAN", {**prune_dict, "inherit_weight": 1.5})


@pytest.mark.parametrize(("finetune_eval_step", "finetune_schedule"),
                         [(None, (4, 5)), (2, (2, 10)), (3, (3, 7)), (9, (4, 5))])
def test_fine_tuning_validates_on_its_own_schedule_with_the_same_patience_in_epochs(
        make_config, make_data, prune_dict, monkeypatch, finetune_eval_step, finetune_schedule):
    # patience 5 validations x 4 epochs = 20 epochs: 10 x 2, ceil(20 / 3) = 7 x 3; a step
    # beyond the 4 epochs is cut to 4, as RecBole cuts eval_step
    _, loaders, _, trainer = build(make_config, make_data, {
        **prune_dict, "prune_criterion": "magnitude", "epochs": 4, "eval_step": 4,
        "stopping_step": 5, "finetune_eval_step": finetune_eval_step})
    seen = fit_recording(trainer, loaders, monkeypatch, "_valid_epoch",
                         lambda: (trainer.eval_step, trainer.stopping_step))
    step = finetune_schedule[0]
    assert seen == ([("teacher-training.pth", 4, 5)]
                    + [("finetune.pth", *finetune_schedule)] * (4 // step))
    assert (trainer.eval_step, trainer.stopping_step) == (4, 5)  # restored after fine-tuning


@pytest.mark.parametrize(("finetune_learning_rate", "expected"), [(None, 0.01), (0.002, 0.002)])
def test_fine_tuning_trains_at_its_own_learning_rate(make_config, make_data, prune_dict,
                                                     monkeypatch, finetune_learning_rate, expected):
    _, loaders, _, trainer = build(make_config, make_data, {
        **prune_dict, "prune_criterion": "magnitude", "learning_rate": 0.01,
        "finetune_learning_rate": finetune_learning_rate})
    seen = fit_recording(trainer, loaders, monkeypatch, "_train_epoch",
                         lambda: (trainer.optimizer.param_groups[0]["lr"],))
    assert {lr for phase, lr in seen if phase == "teacher-training.pth"} == {0.01}
    assert {lr for phase, lr in seen if phase == "finetune.pth"} == {expected}


def test_without_validation_fine_tuning_is_not_validated_either(make_config, make_data,
                                                                 prune_dict):
    _, _, _, trainer = build(make_config, make_data, {
        **prune_dict, "eval_step": 0, "stopping_step": 5, "finetune_eval_step": 1})
    assert trainer._finetune_schedule() == (0, 5)


@pytest.mark.parametrize("reproducibility", [True, False])
def test_teacher_and_fine_tuning_train_under_deterministic_algorithms_when_reproducible(
        make_config, make_data, prune_dict, monkeypatch, reproducibility):
    # with 2 CPU threads, two fine-tunings of one pruned model end apart otherwise
    # (python -m bench.determinism finetune)
    _, loaders, _, trainer = build(make_config, make_data, {
        **prune_dict, "prune_criterion": "magnitude", "reproducibility": reproducibility})
    seen = fit_recording(trainer, loaders, monkeypatch, "_train_epoch",
                         lambda: (torch.are_deterministic_algorithms_enabled(),))
    assert {phase for phase, _ in seen} == {"teacher-training.pth", "finetune.pth"}
    assert {enabled for _, enabled in seen} == {reproducibility}
    assert not torch.are_deterministic_algorithms_enabled()  # the previous setting is back
