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
