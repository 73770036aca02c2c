"""GANPruneTrainer end to end on tiny data: every criterion, live optimiser, reload, resume,
distillation while fine-tuning."""

import os

import pytest
import torch

from recbole_gcnprune.model.gcn_prune_gan import EMBEDDING_GROUP, hidden_group
from recbole_gcnprune.pruning.checkpoint import load_into, read_checkpoint
from recbole_gcnprune.pruning.distill import RankingDistillation
from recbole_gcnprune.trainer import GANPruneTrainer

CRITERIA = ["gan", "magnitude", "taylor", "random", "train_small", "distill_small"]


@pytest.fixture
def prune_dict(small_model_dict):
    return {**small_model_dict, "prune_criterion": "gan", "prune_ratio": 0.5,
            "layer_transform": "linear", "search_epochs": 1, "taylor_batches": 2}


def build(make_config, make_data, config_dict):
    from recbole.utils import init_seed

    from recbole_gcnprune.model import GCNPruneGAN

    config = make_config("GCNPruneGAN", config_dict)
    _, loaders = make_data(config)
    init_seed(config["seed"], config["reproducibility"])
    model = GCNPruneGAN(config, loaders[0]._dataset)
    return config, loaders, model, GANPruneTrainer(config, model)


def fit_and_test(trainer, loaders):
    train, valid, test = loaders
    trainer.fit(train, valid, saved=True)
    return trainer.evaluate(test, load_best_model=True)


def fit_recording(trainer, loaders, monkeypatch, method, what):
    """Fit, recording ``(phase checkpoint name, *what())`` at every call of ``trainer.method``."""
    seen, original = [], getattr(trainer, method)

    def record(*args, **kwargs):
        seen.append((os.path.basename(trainer.saved_model_file), *what()))
        return original(*args, **kwargs)

    monkeypatch.setattr(trainer, method, record)
    trainer.fit(loaders[0], loaders[1], saved=True)
    return seen


@pytest.mark.parametrize("criterion", CRITERIA)
def test_each_criterion_prunes_to_budget(make_config, make_data, prune_dict, criterion):
    _, loaders, model, trainer = build(make_config, make_data,
                                       {**prune_dict, "prune_criterion": criterion})
    result = fit_and_test(trainer, loaders)
    assert "ndcg@20" in result
    widths = {g.name: g.width for g in trainer.model.channel_groups()}
    assert widths == {EMBEDDING_GROUP: 4, hidden_group(0): 2, hidden_group(1): 2}
    report = trainer.report
    assert report["pruned"]["parameters"] < report["dense"]["parameters"]
    assert report["pruned"]["full_sort_flops"] < report["dense"]["full_sort_flops"]
    if criterion == "gan":
        assert len(report["search_history"]) == 1
        assert set(report["search_history"][0]["kept_fraction"]) == set(widths)
        assert "pruned_valid_score" in report["search_history"][0]
        assert report["search_best_epoch"] == 0


def test_optimizer_holds_only_live_parameters(make_config, make_data, prune_dict):
    _, loaders, model, trainer = build(make_config, make_data,
                                       {**prune_dict, "prune_criterion": "magnitude"})
    trainer.fit(loaders[0], loaders[1], saved=True)
    live = {id(p) for p in trainer.model.parameters()}
    held = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert held == live


def test_pruned_checkpoint_reloads_with_weights_only_and_reproduces_metrics(
        make_config, make_data, prune_dict):
    config, loaders, _, trainer = build(make_config, make_data, prune_dict)
    result = fit_and_test(trainer, loaders)
    checkpoint = torch.load(trainer.saved_model_file, weights_only=True)
    assert checkpoint["pruning"]["widths"][EMBEDDING_GROUP] == 4
    _, _, fresh, fresh_trainer = build(make_config, make_data, prune_dict)
    load_into(fresh, read_checkpoint(trainer.saved_model_file))
    assert fresh.user_embedding.embedding_dim == 4
    assert fresh_trainer.evaluate(loaders[2], load_best_model=False) == result


def test_rerun_resumes_finished_phases(make_config, make_data, prune_dict, monkeypatch):
    _, loaders, _, trainer = build(make_config, make_data, prune_dict)
    first = fit_and_test(trainer, loaders)

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished phase ran again")

    monkeypatch.setattr(GANPruneTrainer, "_select", must_not_run)
    monkeypatch.setattr(GANPruneTrainer, "_finetune", must_not_run)
    _, loaders, _, again = build(make_config, make_data, prune_dict)
    assert fit_and_test(again, loaders) == first
    assert again.report["resumed"] and again.report["teacher"]["cached"]
    for recorded in ("finetune_seconds", "selection_seconds", "search_history"):
        assert again.report[recorded] == trainer.report[recorded]


def test_teacher_is_cached_and_shared_across_criteria(make_config, make_data, prune_dict):
    _, loaders, _, trainer = build(make_config, make_data, prune_dict)
    trainer.fit(loaders[0], loaders[1], saved=True)
    assert "train_seconds" in trainer.report["teacher"]
    _, loaders, _, other = build(make_config, make_data,
                                 {**prune_dict, "prune_criterion": "random", "prune_ratio": 0.75})
    other.fit(loaders[0], loaders[1], saved=True)
    assert other.report["teacher_file"] == trainer.report["teacher_file"]
    assert other.report["teacher"]["train_seconds"] == trainer.report["teacher"]["train_seconds"]


def test_dense_mode_trains_without_pruning(make_config, make_data, prune_dict):
    _, loaders, model, trainer = build(make_config, make_data,
                                       {**prune_dict, "prune_criterion": "none"})
    fit_and_test(trainer, loaders)
    assert trainer.model.user_embedding.embedding_dim == 8


def test_dense_mode_and_pruned_runs_share_one_teacher(make_config, make_data, prune_dict):
    _, loaders, _, dense = build(make_config, make_data, {**prune_dict, "prune_criterion": "none"})
    dense_result = fit_and_test(dense, loaders)
    assert not dense.report["teacher"]["cached"]
    _, loaders, _, pruned = build(make_config, make_data, prune_dict)
    pruned.fit(loaders[0], loaders[1], saved=True)
    assert pruned.report["teacher"]["cached"]
    assert pruned.report["teacher_file"] == dense.report["teacher_file"]
    _, loaders, _, again = build(make_config, make_data, {**prune_dict, "prune_criterion": "none"})
    assert fit_and_test(again, loaders) == dense_result
    assert again.report["teacher"]["cached"]


def test_missing_teacher_checkpoint_is_a_one_line_config_error(make_config, make_data, prune_dict,
                                                               tmp_path):
    from recbole_gcnprune.errors import ConfigError

    missing = str(tmp_path / "nope.pth")
    _, loaders, _, trainer = build(make_config, make_data,
                                   {**prune_dict, "teacher_checkpoint": missing})
    with pytest.raises(ConfigError, match="teacher_checkpoint .*nope.pth not found"):
        trainer.fit(loaders[0], loaders[1], saved=True)


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


def test_magnitude_prunes_the_teacher_rotated_into_its_principal_basis(
        make_config, make_data, prune_dict, monkeypatch):
    from recbole_gcnprune.pruning.rotation import principal_basis

    monkeypatch.setattr(GANPruneTrainer, "_finetune", lambda self, *a: (0.0, {}))
    _, loaders, _, trainer = build(make_config, make_data, {
        **prune_dict, "prune_criterion": "magnitude", "inherit_weight": 1.0})
    trainer.fit(loaders[0], loaders[1], saved=True)
    teacher = read_checkpoint(trainer.report["teacher_file"])["state_dict"]
    basis, _ = principal_basis(*trainer.teacher_embeddings)
    kept = trainer.pruning["kept"][EMBEDDING_GROUP]
    expected = (teacher["user_embedding.weight"] @ basis)[:, kept]
    torch.testing.assert_close(trainer.model.user_embedding.weight.detach(), expected)
    shares = trainer.report["rotation"]["channel_energy"]
    assert len(shares) == 8 and all(a >= b for a, b in zip(shares, shares[1:]))


def test_a_resumed_selection_reports_its_rotation(make_config, make_data, prune_dict):
    config_dict = {**prune_dict, "prune_criterion": "magnitude"}
    _, loaders, _, trainer = build(make_config, make_data, config_dict)
    trainer.fit(loaders[0], loaders[1], saved=True)
    for name in ("finetune.json", "finetune.pth", "report.json"):
        os.remove(os.path.join(trainer.run_dir, name))
    _, loaders, _, again = build(make_config, make_data, config_dict)
    again.fit(loaders[0], loaders[1], saved=True)
    assert again.report["rotation"] == trainer.report["rotation"]


def test_no_rotation_when_switched_off_or_trained_from_scratch(make_config, make_data, prune_dict,
                                                              monkeypatch):
    monkeypatch.setattr(GANPruneTrainer, "_finetune", lambda self, *a: (0.0, {}))
    for overrides in ({"prune_criterion": "magnitude", "prune_rotation": "none"},
                      {"prune_criterion": "train_small"}):
        _, loaders, _, trainer = build(make_config, make_data, {**prune_dict, **overrides})
        trainer.fit(loaders[0], loaders[1], saved=True)
        assert "rotation" not in trainer.report


def test_from_scratch_runs_share_a_folder_whatever_the_rotation(make_config, make_data,
                                                                prune_dict):
    def run_dir(criterion, rotation):
        config_dict = {**prune_dict, "prune_criterion": criterion, "prune_rotation": rotation}
        return build(make_config, make_data, config_dict)[3].run_dir

    assert run_dir("train_small", "pca") == run_dir("train_small", "none")
    assert run_dir("magnitude", "pca") != run_dir("magnitude", "none")


def test_unknown_rotation_is_a_one_line_config_error(make_config, prune_dict):
    from recbole_gcnprune.errors import ConfigError

    with pytest.raises(ConfigError, match=r"prune_rotation='svd'.*one of pca, none"):
        make_config("GCNPruneGAN", {**prune_dict, "prune_rotation": "svd"})


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


def test_runs_keep_their_cache_names_at_the_settings_before_a_key(make_config, prune_dict):
    from recbole_gcnprune.trainer.run_keys import config_key

    def key(**overrides):
        return config_key(make_config("GCNPruneGAN", {**prune_dict, **overrides}), ())

    bpr = key()
    assert key(ccl_margin=0.2, ccl_negative_weight=3) == bpr  # inactive under BPR
    assert key(ranking_loss="ccl") != bpr
    assert key(ranking_loss="ccl", ccl_margin=0.2) != key(ranking_loss="ccl")
    ccl = key(ranking_loss="ccl")
    assert key(ranking_loss="ccl", ccl_item_norm=True) == ccl  # the behaviour before the key
    assert key(ranking_loss="ccl", ccl_item_norm=False) != ccl
    assert key(adv_profile="sampled") == bpr  # the behaviour before the key
    assert key(adv_profile="panel") != bpr
    assert key(finetune_eval_step=None) == bpr  # the behaviour before the key
    assert key(finetune_eval_step=1) != bpr
    assert key(finetune_learning_rate=None) == bpr  # the behaviour before the key
    assert key(finetune_learning_rate=1e-3) != bpr
    assert key(search_learning_rate=None) == bpr  # the behaviour before the key
    assert key(search_learning_rate=1e-3) != bpr
    assert key(search_top_items=0) == bpr  # the behaviour before the key
    assert key(search_top_items=400) != bpr
    assert key(search_rank_weight=1.0) == bpr  # the behaviour before the key
    assert key(search_rank_weight=0.0) != bpr
    # a frozen student's default (no ranking term) is not the behaviour before the key
    assert (key(search_learning_rate=0)
            != key(search_learning_rate=0, search_rank_weight=1.0))
    assert key(finetune_stopping_delta=0) == bpr  # the behaviour before the key
    assert key(finetune_stopping_delta=5e-4) != bpr


def test_the_discriminator_setting_leaves_the_teacher_cache_alone(make_config, prune_dict):
    from recbole_gcnprune.trainer.run_keys import PRUNING_KEYS, RUNTIME_KEYS, config_key

    def teacher_key(**overrides):
        config = make_config("GCNPruneGAN", {**prune_dict, **overrides})
        return config_key(config, PRUNING_KEYS + RUNTIME_KEYS)

    assert teacher_key(adv_profile="panel") == teacher_key(adv_profile="sampled")
    assert teacher_key(finetune_eval_step=1) == teacher_key()
    assert teacher_key(finetune_learning_rate=1e-3) == teacher_key()
    assert teacher_key(search_learning_rate=1e-3) == teacher_key()
    assert teacher_key(search_top_items=400) == teacher_key()
    assert teacher_key(search_rank_weight=0.0) == teacher_key()
    assert teacher_key(finetune_stopping_delta=5e-4) == teacher_key()


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


@pytest.mark.parametrize(("search_learning_rate", "expected"),
                         [(None, 0.01), (0.002, 0.002), (0, 0)])
def test_the_search_trains_its_student_at_its_own_learning_rate(
        make_config, make_data, prune_dict, search_learning_rate, expected):
    _, _, _, trainer = build(make_config, make_data, {
        **prune_dict, "learning_rate": 0.01, "search_learning_rate": search_learning_rate})
    assert trainer.search_settings.student_lr == expected


@pytest.mark.parametrize("layer_transform", ["none", "linear"])
def test_a_frozen_student_keeps_the_teachers_weights_and_masks_its_outputs(
        make_config, make_data, prune_dict, monkeypatch, layer_transform):
    """``search_learning_rate: 0``: the search leaves every weight as it was; a linear model's
    masked outputs come from the teacher's propagation, computed once, not one per step."""
    from recbole_gcnprune.pruning import gan_search

    _, loaders, model, trainer = build(make_config, make_data, {
        **prune_dict, "layer_transform": layer_transform, "search_learning_rate": 0})
    trainer._teacher(loaders[0], loaders[1], verbose=False, show_progress=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    propagations, propagated = [], model.propagated
    monkeypatch.setattr(model, "propagated", lambda: propagations.append(1) or propagated())
    search = gan_search.AdversarialMaskSearch(model, trainer.teacher_embeddings,
                                              trainer.search_settings)
    outputs, student_outputs = [], search._student_outputs

    def record(masks):
        outputs.append((masks, student_outputs(masks)))
        return outputs[-1][1]

    monkeypatch.setattr(search, "_student_outputs", record)
    batches = [next(iter(loaders[0]))] * 3
    generator_before = [p.clone() for p in search.generator.parameters()]
    search.run(batches)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, before[name], rtol=0, atol=0)
    assert any(not torch.equal(p, q) for p, q in zip(search.generator.parameters(),
                                                     generator_before))
    assert len(propagations) == (1 if layer_transform == "none" else len(batches))
    assert all(p.requires_grad for p in model.parameters())  # unfrozen again after the search
    masks, (user_all, item_all) = outputs[-1]
    model.set_channel_masks(masks)
    with torch.no_grad():
        expected = model.forward()
    every_row = torch.arange(model.n_users), torch.arange(model.n_items)
    torch.testing.assert_close(user_all[every_row[0]].detach(), expected[0])
    torch.testing.assert_close(item_all[every_row[1]].detach(), expected[1])
    torch.testing.assert_close(item_all.T.detach(), expected[1].T)


@pytest.mark.parametrize(("search_rank_weight", "rank_calls"), [(1.0, 3), (0.0, 0)])
def test_the_search_leaves_the_ranking_term_out_at_rank_weight_zero(
        make_config, make_data, prune_dict, monkeypatch, search_rank_weight, rank_calls):
    """``search_rank_weight: 0``: the search's objective is the distillation, adversarial and
    budget terms alone; the student's ranking loss is not even computed."""
    from recbole_gcnprune.pruning import gan_search

    _, loaders, model, trainer = build(make_config, make_data, {
        **prune_dict, "search_learning_rate": 0, "search_rank_weight": search_rank_weight})
    trainer._teacher(loaders[0], loaders[1], verbose=False, show_progress=False)
    search = gan_search.AdversarialMaskSearch(model, trainer.teacher_embeddings,
                                              trainer.search_settings)
    calls, loss = [], model.loss_from_embeddings
    monkeypatch.setattr(model, "loss_from_embeddings", lambda *a: calls.append(1) or loss(*a))
    search.run([next(iter(loaders[0]))] * 3)
    assert len(calls) == rank_calls
    assert (search.history[-1]["rank"] > 0) == (search_rank_weight > 0)


@pytest.mark.parametrize(("search_stopping_step", "epochs_run"), [(0, 6), (2, 3)])
def test_the_search_stops_after_its_stopping_step_of_validations_without_a_gain(
        make_config, make_data, prune_dict, monkeypatch, search_stopping_step, epochs_run):
    _, loaders, _, trainer = build(make_config, make_data, {
        **prune_dict, "search_epochs": 6, "eval_step": 1,
        "search_stopping_step": search_stopping_step})
    trainer._teacher(loaders[0], loaders[1], verbose=False, show_progress=False)
    monkeypatch.setattr(trainer, "_pruned_valid_score", lambda *_: 0.5)  # never a new best
    trainer._gan_search(loaders[0], loaders[1])
    assert len(trainer.report["search_history"]) == epochs_run
    assert trainer.report["search_best_epoch"] == 0


def test_the_search_rate_names_only_gan_runs(make_config, make_data, prune_dict):
    def run_dir(**overrides):
        return build(make_config, make_data, {**prune_dict, **overrides})[3].run_dir

    assert (run_dir(prune_criterion="magnitude", search_learning_rate=1e-3)
            == run_dir(prune_criterion="magnitude"))
    assert run_dir(search_learning_rate=1e-3) != run_dir()


def creeping_fine_tuning(trainer, loaders, monkeypatch):
    """Fit with every fine-tuning validation replaced by a creep with flutter (a new best every
    other validation, each by 0.0002); return the fine-tuning's validation scores."""
    from recbole.trainer import Trainer

    real, scores = Trainer._valid_epoch, []

    def valid_epoch(self, valid_data, show_progress=False):
        if os.path.basename(self.saved_model_file) != "finetune.pth":
            return real(self, valid_data, show_progress)
        k = len(scores)
        scores.append(0.1 + 0.0002 * (k // 2) - 0.0001 * (k % 2))
        return scores[-1], {"ndcg@10": scores[-1]}

    monkeypatch.setattr(Trainer, "_valid_epoch", valid_epoch)
    trainer.fit(loaders[0], loaders[1], saved=True)
    return scores


@pytest.mark.parametrize(("delta", "validations"), [(0, 20), (0.001, 6)])
def test_fine_tuning_stops_when_no_gain_beats_the_stopping_delta(
        make_config, make_data, prune_dict, monkeypatch, delta, validations):
    # RecBole's rule (delta 0) never stops a creep whose new bests come every other validation;
    # with delta 0.001 none of its gains counts: the 5th validation past the first (patience 4)
    # that is not a new best stops it, the 6th
    _, loaders, _, trainer = build(make_config, make_data, {
        **prune_dict, "prune_criterion": "magnitude", "epochs": 20, "eval_step": 1,
        "stopping_step": 4, "finetune_stopping_delta": delta})
    scores = creeping_fine_tuning(trainer, loaders, monkeypatch)
    assert len(scores) == validations
    assert trainer.best_valid_score == max(scores)  # the best is kept, whatever its margin
    assert trainer.gain_patience is None  # the teacher of a later fit counts as RecBole does


@pytest.mark.parametrize("reproducibility", [True, False])
def test_the_search_runs_under_deterministic_algorithms_when_reproducible(
        make_config, make_data, prune_dict, monkeypatch, reproducibility):
    # with 2 CPU threads the search is not bit-reproducible otherwise (bench/search_determinism.py)
    from recbole_gcnprune.pruning import gan_search

    _, loaders, _, trainer = build(make_config, make_data,
                                   {**prune_dict, "reproducibility": reproducibility})
    seen, step = [], gan_search.AdversarialMaskSearch._step

    def recording_step(self, interaction, tau):
        seen.append(torch.are_deterministic_algorithms_enabled())
        return step(self, interaction, tau)

    monkeypatch.setattr(gan_search.AdversarialMaskSearch, "_step", recording_step)
    trainer.fit(loaders[0], loaders[1], saved=True)
    assert seen and set(seen) == {reproducibility}
    assert not torch.are_deterministic_algorithms_enabled()  # the previous setting is back


def test_without_validation_fine_tuning_is_not_validated_either(make_config, make_data,
                                                                 prune_dict):
    _, _, _, trainer = build(make_config, make_data, {
        **prune_dict, "eval_step": 0, "stopping_step": 5, "finetune_eval_step": 1})
    assert trainer._finetune_schedule() == (0, 5)


def test_gan_prunes_a_ccl_model(make_config, make_data, prune_dict):
    _, loaders, _, trainer = build(make_config, make_data, {**prune_dict, "ranking_loss": "ccl"})
    result = fit_and_test(trainer, loaders)
    assert "ndcg@20" in result
    assert trainer.model.user_embedding.embedding_dim == 4
    user_all, _ = trainer.model.forward()
    torch.testing.assert_close(user_all.norm(dim=1), torch.ones(user_all.shape[0]))


def test_panel_discriminator_sees_the_same_items_in_the_same_order(make_config, make_data,
                                                                    prune_dict, monkeypatch):
    from recbole_gcnprune.pruning import gan_search

    _, loaders, model, trainer = build(
        make_config, make_data, {**prune_dict, "adv_profile": "panel", "n_items_sampled": 5}
    )
    trainer._teacher(loaders[0], loaders[1], verbose=False, show_progress=False)
    search = gan_search.AdversarialMaskSearch(model, trainer.teacher_embeddings,
                                              trainer.search_settings)
    items_seen, scores, fed = [], [], []
    shared_scores, score_profiles = search.distillation.shared_scores, gan_search.score_profiles

    def record_scores(users, items, user_all, item_all):
        items_seen.append(items)
        scores.append(shared_scores(users, items, user_all, item_all))
        return scores[-1]

    def record_fed(teacher, student):
        fed.append((teacher, student))
        return score_profiles(teacher, student)

    monkeypatch.setattr(search.distillation, "shared_scores", record_scores)
    monkeypatch.setattr(gan_search, "score_profiles", record_fed)
    search.run([next(iter(loaders[0]))] * 2)
    # each step scores the distillation's fresh sample, then the panel; the panel never moves
    assert len(items_seen) == 4
    assert torch.equal(items_seen[1], items_seen[3])
    assert not torch.equal(items_seen[0], items_seen[2])
    assert len(set(items_seen[1].tolist())) == 5
    # and the discriminator is fed the panel's scores, not the distillation's
    assert len(fed) == 2 and all(f[0] is scores[2 * k + 1][0] and f[1] is scores[2 * k + 1][1]
                                 for k, f in enumerate(fed))


def test_search_distils_on_the_teachers_top_items_but_hides_them_from_the_discriminator(
        make_config, make_data, prune_dict, monkeypatch):
    from recbole_gcnprune.pruning import gan_search

    _, loaders, model, trainer = build(
        make_config, make_data, {**prune_dict, "search_top_items": 3, "n_items_sampled": 5}
    )
    assert trainer.search_settings.top_items == 3
    trainer._teacher(loaders[0], loaders[1], verbose=False, show_progress=False)
    search = gan_search.AdversarialMaskSearch(model, trainer.teacher_embeddings,
                                              trainer.search_settings)
    seen, fed = [], []
    users_and_profiles, score_profiles = (search.distillation.users_and_profiles,
                                          gan_search.score_profiles)

    def record_profiles(user, user_all, item_all):
        seen.append(users_and_profiles(user, user_all, item_all))
        return seen[-1]

    def record_fed(teacher, student):
        fed.append(teacher)
        return score_profiles(teacher, student)

    monkeypatch.setattr(search.distillation, "users_and_profiles", record_profiles)
    monkeypatch.setattr(gan_search, "score_profiles", record_fed)
    search.run([next(iter(loaders[0]))])
    (users, (teacher, _)), = seen
    assert teacher.shape == (users.numel(), 3 + 5)
    # the first 3 columns are the teacher's scores on its own top 3 items for each user
    user_e, item_e = trainer.teacher_embeddings
    full = user_e[users] @ item_e.T
    torch.testing.assert_close(teacher[:, :3], full.topk(3, dim=1).values)
    torch.testing.assert_close(teacher[:, :3], full.gather(1, search.distillation.top_items[users]))
    # the discriminator sees only the 5 random columns (the top ones are in the teacher's order)
    assert fed[0].shape == (users.numel(), 5)
    torch.testing.assert_close(fed[0], teacher[:, 3:])


def test_the_search_depth_names_only_gan_runs(make_config, make_data, prune_dict):
    def run_dir(**overrides):
        return build(make_config, make_data, {**prune_dict, **overrides})[3].run_dir

    assert run_dir(search_top_items=8) != run_dir()
    assert (run_dir(prune_criterion="magnitude", search_top_items=8)
            == run_dir(prune_criterion="magnitude"))
    assert run_dir(search_rank_weight=0.0) != run_dir()
    assert (run_dir(prune_criterion="taylor", search_rank_weight=0.0)
            == run_dir(prune_criterion="taylor"))


def test_search_settings_reject_an_unknown_profile():
    from recbole_gcnprune.pruning.gan_search import SearchSettings

    with pytest.raises(ValueError, match="adv_profile='fixed': must be one of sampled, panel"):
        SearchSettings(epochs=1, keep_fraction=0.5, adv_weight=0.1, distill_weight=1.0,
                       budget_weight=1.0, student_lr=0.01, generator_lr=0.01,
                       discriminator_lr=0.01, adv_profile="fixed")


@pytest.mark.parametrize("criterion", ["magnitude", "train_small"])
def test_the_fresh_weights_do_not_depend_on_what_the_selection_drew(
        make_config, make_data, prune_dict, monkeypatch, criterion):
    """Criteria that keep the same channels start fine-tuning from the same weights: the fresh
    part of the start is drawn under its own seed, not after whatever the selection drew (a
    gan search draws its networks' initialisation from the global stream)."""

    def selection_start(draw_first):
        _, loaders, _, trainer = build(make_config, make_data, {
            **prune_dict, "prune_criterion": criterion, "layer_transform": "none"})
        prune = trainer._prune
        monkeypatch.setattr(trainer, "_prune",
                            lambda kept: (torch.rand(draw_first), prune(kept))[1])
        trainer._prune(trainer._select(loaders[0], loaders[1], False, False))
        return {k: v.clone() for k, v in trainer.model.state_dict().items()}

    torch.testing.assert_close(selection_start(1), selection_start(1000))


@pytest.mark.parametrize("criterion", ["taylor", "gan"])
def test_phases_draw_the_same_whether_the_phases_before_ran_or_were_resumed(
        make_config, make_data, prune_dict, criterion):
    """A fine-tuning resumed after its selection, and a selection run on a cached teacher,
    reproduce the uninterrupted run: each phase seeds its own random streams."""
    config_dict = {**prune_dict, "prune_criterion": criterion}
    _, loaders, _, trainer = build(make_config, make_data, config_dict)
    first = fit_and_test(trainer, loaders)
    weights = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    for name in ("finetune.json", "finetune.pth"):  # interrupted while fine-tuning
        os.remove(os.path.join(trainer.run_dir, name))
    _, loaders, _, resumed = build(make_config, make_data, config_dict)
    assert fit_and_test(resumed, loaders) == first
    torch.testing.assert_close(resumed.model.state_dict(), weights)
    for name in os.listdir(trainer.run_dir):  # only the teacher is left, cached
        os.remove(os.path.join(trainer.run_dir, name))
    _, loaders, _, on_cached = build(make_config, make_data, config_dict)
    assert fit_and_test(on_cached, loaders) == first
    assert on_cached.report["teacher"]["cached"]
    torch.testing.assert_close(on_cached.model.state_dict(), weights)
