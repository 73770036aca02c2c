"""Building and fitting a GANPruneTrainer on the tiny data, for the trainer's phase tests."""

import os


def build(make_config, make_data, config_dict):
    from recbole.utils import init_seed

    from recbole_gcnprune.model import GCNPruneGAN
    from recbole_gcnprune.trainer import GANPruneTrainer

    config = make_config("GCNPruneGAN", config_dict)
    _, loaders = make_data(config)
    init_seed(config["seed"], config["reproducibility"])
    model = GCNPruneGAN(config, loaders[0]._dataset).to(config["device"])
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


def rerun_without_phases(make_config, make_data, config_dict, monkeypatch):
    """A second run of ``config_dict`` in which selection and fine-tuning must not run again
    (they are resumed); returns ``(its test result, its trainer)``."""
    from recbole_gcnprune.trainer import GANPruneTrainer

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished phase ran again")

    monkeypatch.setattr(GANPruneTrainer, "_select", must_not_run)
    monkeypatch.setattr(GANPruneTrainer, "_finetune", must_not_run)
    _, loaders, _, again = build(make_config, make_data, config_dict)
    return fit_and_test(again, loaders), again
