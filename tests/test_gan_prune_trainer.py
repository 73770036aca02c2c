"""GANPruneTrainer end to end on tiny data: every criterion, live optimiser, reload, resume,
teacher cache, rotation, per-phase seeding. The fine-tuning phase: test_finetune_phase.py; the
adversarial search: test_search_phase.py."""

import os

import pytest
import torch
from pruning_runs import build, fit_and_test, rerun_without_phases

from recbole_gcnprune.model.gcn_prune_gan import EMBEDDING_GROUP, hidden_group
from recbole_gcnprune.pruning.checkpoint import load_into, read_checkpoint
from recbole_gcnprune.trainer import GANPruneTrainer

CRITERIA = ["gan", "magnitude", "taylor", "random", "train_small", "distill_small"]


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
        assert report["search_best_epoch"] in (-1, 0)  # its magnitude start, or epoch 0
        assert 0 <= report["search_start_valid_score"] <= 1


def test_a_run_leaves_its_phase_files_and_no_copy_of_the_teacher(make_config, make_data,
                                                                  prune_dict):
    _, loaders, _, trainer = build(make_config, make_data, prune_dict)
    trainer.fit(loaders[0], loaders[1], saved=True)
    assert sorted(os.listdir(trainer.run_dir)) == [
        "finetune.json", "finetune.pth", "report.json", "selection.pth"]
    assert os.path.isfile(trainer.report["teacher_file"])


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
    result, again = rerun_without_phases(make_config, make_data, prune_dict, monkeypatch)
    assert result == first
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
    initial = model.user_embedding.weight.detach().clone()
    fit_and_test(trainer, loaders)
    assert trainer.model.user_embedding.embedding_dim == 8
    assert not torch.allclose(trainer.model.user_embedding.weight, initial)  # it trained
    assert trainer.saved_model_file == trainer.report["teacher_file"]


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


def test_a_trained_teacher_records_the_code_and_the_mode_it_trained_under(
        make_config, make_data, prune_dict):
    from recbole_gcnprune.version import code_version

    _, loaders, _, dense = build(make_config, make_data, {**prune_dict, "prune_criterion": "none"})
    dense.fit(loaders[0], loaders[1], saved=True)
    meta = read_checkpoint(dense.report["teacher_file"])["meta"]
    assert meta["deterministic"] is True
    assert meta["code_version"] == code_version() == dense.report["code_version"]


def test_missing_teacher_checkpoint_is_a_one_line_config_error(make_config, make_data, prune_dict,
                                                               tmp_path):
    from recbole_gcnprune.errors import ConfigError

    missing = str(tmp_path / "nope.pth")
    with pytest.raises(ConfigError, match="teacher_checkpoint .*nope.pth") as raised:
        build(make_config, make_data, {**prune_dict, "teacher_checkpoint": missing})
    assert "\n" not in str(raised.value)


def _write(path, payload):
    torch.save(payload, path)
    return str(path)


@pytest.mark.parametrize("payload, message", [
    ({"state_dict": {"user_embedding.weight": torch.zeros(3, 3)}}, "does not fit this model"),
    ({"meta": {}}, "has no 'state_dict' of tensors"),
    ({"user_embedding.weight": torch.zeros(3, 3)}, "has no 'state_dict' of tensors"),
    ({"state_dict": {"w": "text"}}, "has no 'state_dict' of tensors"),
    ({"state_dict": {}, "pruning": {"widths": {"embedding": 4}}}, "is a pruned model"),
    ({"state_dict": {}, "pruning": {"kept": {}}}, "is a pruned model"),
    (object(), "cannot be read with weights_only=True"),
])
def test_unusable_teacher_checkpoint_is_a_one_line_config_error(
        make_config, make_data, prune_dict, tmp_path, payload, message):
    from recbole_gcnprune.errors import ConfigError

    path = _write(tmp_path / "teacher.pth", payload)
    with pytest.raises(ConfigError, match=message) as raised:  # when built, or when it loads
        _, loaders, _, trainer = build(make_config, make_data,
                                       {**prune_dict, "teacher_checkpoint": path})
        trainer.fit(loaders[0], loaders[1], saved=True)
    assert "\n" not in str(raised.value)


def test_a_corrupt_cached_teacher_is_named_as_the_cache(make_config, make_data, prune_dict):
    from recbole_gcnprune.errors import ConfigError

    _, loaders, _, dense = build(make_config, make_data, {**prune_dict, "prune_criterion": "none"})
    dense.fit(loaders[0], loaders[1], saved=True)
    with open(dense.report["teacher_file"], "r+b") as f:
        f.truncate(100)
    _, loaders, _, again = build(make_config, make_data, prune_dict)
    with pytest.raises(ConfigError, match="^cached teacher .* cannot be read"):
        again.fit(loaders[0], loaders[1], saved=True)


def test_teacher_checkpoint_without_metadata_serves_a_dense_run(
        make_config, make_data, prune_dict, tmp_path):
    _, loaders, _, dense = build(make_config, make_data, {**prune_dict, "prune_criterion": "none"})
    expected = fit_and_test(dense, loaders)
    state = read_checkpoint(dense.report["teacher_file"])["state_dict"]
    path = _write(tmp_path / "recbole-style.pth", {"state_dict": state})  # no "meta"
    _, loaders, _, again = build(make_config, make_data, {
        **prune_dict, "prune_criterion": "none", "teacher_checkpoint": path})
    assert fit_and_test(again, loaders) == expected
    assert again.best_valid_score == dense.best_valid_score


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


def test_a_run_resumed_after_its_search_reports_the_search(make_config, make_data, prune_dict):
    # a run killed after the selection, before its report: the search's history is not lost
    _, loaders, _, trainer = build(make_config, make_data, prune_dict)
    trainer.fit(loaders[0], loaders[1], saved=True)
    assert trainer.report["search_history"]
    for name in ("finetune.json", "finetune.pth", "report.json"):
        os.remove(os.path.join(trainer.run_dir, name))
    _, loaders, _, again = build(make_config, make_data, prune_dict)
    again.fit(loaders[0], loaders[1], saved=True)
    for key in ("search_history", "selection_seconds"):
        assert again.report[key] == trainer.report[key]


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


def test_run_keys_name_the_settings_that_act(make_config, prune_dict):
    from recbole_gcnprune.trainer.run_keys import config_key

    def key(**overrides):
        return config_key(make_config("GCNPruneGAN", {**prune_dict, **overrides}), ())

    bpr = key()
    assert key(ccl_margin=0.2, ccl_negative_weight=3) == bpr  # inactive under BPR
    assert key(ranking_loss="ccl") != bpr
    assert key(ranking_loss="ccl", ccl_margin=0.2) != key(ranking_loss="ccl")
    assert key(ranking_loss="ccl", ccl_item_norm=False) != key(ranking_loss="ccl")
    assert key(finetune_eval_step=1) != bpr
    assert key(finetune_learning_rate=1e-3) != bpr
    assert key(search_learning_rate=1e-3) != bpr
    assert key(distill_top_items=32) != bpr


def test_run_keys_change_with_the_code_version(make_config, prune_dict, monkeypatch):
    """A teacher, run or row made by other code is recomputed, not reused."""
    from recbole_gcnprune.trainer import run_keys

    config = make_config("GCNPruneGAN", prune_dict)
    before = run_keys.config_key(config, ())
    monkeypatch.setattr(run_keys, "code_version", lambda: "another-code")
    assert run_keys.config_key(config, ()) != before


def test_the_pruning_settings_leave_the_teacher_cache_alone(make_config, prune_dict):
    from recbole_gcnprune.trainer.run_keys import PRUNING_KEYS, RUNTIME_KEYS, config_key

    def teacher_key(**overrides):
        config = make_config("GCNPruneGAN", {**prune_dict, **overrides})
        return config_key(config, PRUNING_KEYS + RUNTIME_KEYS)

    assert teacher_key(finetune_eval_step=1) == teacher_key()
    assert teacher_key(finetune_learning_rate=1e-3) == teacher_key()
    assert teacher_key(search_learning_rate=1e-3) == teacher_key()
    assert teacher_key(distill_top_items=32) == teacher_key()
    assert teacher_key(prune_ratio=0.9, prune_criterion="taylor") == teacher_key()


def test_the_config_files_spelling_leaves_the_cache_names_alone(make_config, prune_dict,
                                                                tmp_path, monkeypatch):
    """RecBole keeps ``--config_files=X`` (not ``--config_files X``) as a config key."""
    import sys

    from recbole_gcnprune.trainer.run_keys import RUNTIME_KEYS, config_key

    settings = tmp_path / "settings.yaml"
    settings.write_text("n_layers: 1\n")
    by_list = config_key(make_config("GCNPruneGAN", prune_dict, config_file_list=[str(settings)]),
                         RUNTIME_KEYS)
    monkeypatch.setattr(sys, "argv", ["run_recbole_prune.py", f"--config_files={settings}"])
    by_key = make_config("GCNPruneGAN", prune_dict, config_file_list=[str(settings)])
    assert by_key["config_files"] == str(settings)
    assert config_key(by_key, RUNTIME_KEYS) == by_list


def test_gan_prunes_a_ccl_model(make_config, make_data, prune_dict):
    _, loaders, _, trainer = build(make_config, make_data, {**prune_dict, "ranking_loss": "ccl"})
    result = fit_and_test(trainer, loaders)
    assert "ndcg@20" in result
    assert trainer.model.user_embedding.embedding_dim == 4
    user_all, _ = trainer.model.forward()
    torch.testing.assert_close(user_all.norm(dim=1), torch.ones(user_all.shape[0]))


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
