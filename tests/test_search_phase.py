"""GANPruneTrainer's adversarial mask search on tiny data: its student's rate, the frozen
student, the ranking term, stopping, determinism, the discriminator's profiles."""

import pytest
import torch
from pruning_runs import build

from recbole_gcnprune.pruning.importance import MagnitudeImportance


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


@pytest.mark.parametrize(("search_learning_rate", "rank_calls"), [(0.01, 3), (0, 0)])
def test_a_frozen_search_leaves_the_ranking_term_out(
        make_config, make_data, prune_dict, monkeypatch, search_learning_rate, rank_calls):
    """A frozen student (``search_learning_rate: 0``): the search's objective is the
    distillation, adversarial and budget terms alone; the ranking loss is not even computed."""
    from recbole_gcnprune.pruning import gan_search

    _, loaders, model, trainer = build(make_config, make_data, {
        **prune_dict, "search_learning_rate": search_learning_rate})
    trainer._teacher(loaders[0], loaders[1], verbose=False, show_progress=False)
    search = gan_search.AdversarialMaskSearch(model, trainer.teacher_embeddings,
                                              trainer.search_settings)
    calls, loss = [], model.loss_from_embeddings
    monkeypatch.setattr(model, "loss_from_embeddings", lambda *a: calls.append(1) or loss(*a))
    search.run([next(iter(loaders[0]))] * 3)
    assert len(calls) == rank_calls
    assert (search.history[-1]["rank"] > 0) == (search_learning_rate > 0)


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
    assert trainer.report["search_best_epoch"] == 0  # the start (0.5 too) is not better


def test_the_search_keeps_its_magnitude_start_unless_an_epoch_validates_better(
        make_config, make_data, prune_dict, monkeypatch):
    _, loaders, model, trainer = build(make_config, make_data, {
        **prune_dict, "search_epochs": 3, "eval_step": 1, "search_stopping_step": 0})
    trainer._teacher(loaders[0], loaders[1], verbose=False, show_progress=False)
    scores = iter([0.5, 0.4, 0.45, 0.3])  # the start, then three epochs: none better
    monkeypatch.setattr(trainer, "_pruned_valid_score", lambda *_: next(scores))
    chosen = trainer._gan_search(loaders[0], loaders[1])
    magnitude = MagnitudeImportance()(model, model.channel_groups())
    assert trainer.report["search_best_epoch"] == -1
    assert trainer.report["search_start_valid_score"] == 0.5
    for name, values in magnitude.items():
        torch.testing.assert_close(chosen[name], values)

    scores = iter([0.5, 0.4, 0.6, 0.3])  # epoch 1 beats it
    monkeypatch.setattr(trainer, "_pruned_valid_score", lambda *_: next(scores))
    trainer._gan_search(loaders[0], loaders[1])
    assert trainer.report["search_best_epoch"] == 1


def test_the_search_rate_names_only_gan_runs(make_config, make_data, prune_dict):
    def run_dir(**overrides):
        return build(make_config, make_data, {**prune_dict, **overrides})[3].run_dir

    assert (run_dir(prune_criterion="magnitude", search_learning_rate=1e-3)
            == run_dir(prune_criterion="magnitude"))
    assert run_dir(search_learning_rate=1e-3) != run_dir()


@pytest.mark.parametrize("reproducibility", [True, False])
def test_the_search_runs_under_deterministic_algorithms_when_reproducible(
        make_config, make_data, prune_dict, monkeypatch, reproducibility):
    # with 2 CPU threads the search is not bit-reproducible otherwise (python -m bench.determinism search)
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


def test_a_search_run_on_its_own_is_deterministic_when_its_settings_say_so(
        make_config, make_data, prune_dict, monkeypatch):
    # the benches run the search outside the trainer's fit, which wraps every phase
    import dataclasses

    from recbole_gcnprune.pruning import gan_search

    _, loaders, model, trainer = build(make_config, make_data, prune_dict)
    trainer._teacher(loaders[0], loaders[1], verbose=False, show_progress=False)
    seen, step = [], gan_search.AdversarialMaskSearch._step
    monkeypatch.setattr(gan_search.AdversarialMaskSearch, "_step", lambda self, *a: seen.append(
        torch.are_deterministic_algorithms_enabled()) or step(self, *a))
    settings = dataclasses.replace(trainer.search_settings, deterministic=True)
    gan_search.AdversarialMaskSearch(model, trainer.teacher_embeddings, settings).run(
        [next(iter(loaders[0]))] * 2)
    assert seen == [True, True]
    assert not torch.are_deterministic_algorithms_enabled()


def test_the_search_settings_name_only_gan_runs(make_config, make_data, prune_dict):
    def run_dir(**overrides):
        return build(make_config, make_data, {**prune_dict, **overrides})[3].run_dir

    assert run_dir(search_epochs=3) != run_dir()
    assert (run_dir(prune_criterion="magnitude", search_epochs=3)
            == run_dir(prune_criterion="magnitude"))
    assert run_dir(adv_weight=0.0) != run_dir()
    assert (run_dir(prune_criterion="taylor", adv_weight=0.0)
            == run_dir(prune_criterion="taylor"))
