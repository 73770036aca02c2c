"""The pipeline in reading order: config -> data -> model -> trainer.fit -> test evaluation.

Everything RecBole already does, RecBole does; this module only wires our Config, registry and
dataset checks in (and never imports ``recbole.quick_start``, which pulls in ray).
"""

from contextlib import contextmanager
from logging import getLogger

from recbole.data import create_dataset, data_preparation
from recbole.utils import init_logger, init_seed, set_color

from recbole_gcnprune.config import Config
from recbole_gcnprune.data.resolve import ensure_dataset_files
from recbole_gcnprune.pruning.checkpoint import load_into, read_checkpoint
from recbole_gcnprune.registry import get_model, get_trainer
from recbole_gcnprune.run_summary import summarise


def load_data(config):
    """RecBole's dataset and (train, valid, test) loaders for ``config``, the split drawn under
    :func:`split_seed` (seeded here: an unseeded random split would differ from run to run, and
    put a cached teacher's training items into the test set)."""
    ensure_dataset_files(config)
    init_seed(split_seed(config), config["reproducibility"])
    dataset = create_dataset(config)
    getLogger().info(dataset)
    return dataset, data_preparation(config, dataset)


def split_seed(config):
    """The seed the data split is drawn under: ``split_seed`` when set, else ``seed``.

    A fixed ``split_seed`` with several ``seed``s varies the training only, on one split.
    """
    return config["seed"] if config["split_seed"] is None else config["split_seed"]


def build_model(config, train_data):
    """Instantiate the model, seeded as RecBole does (no trainer, so no tensorboard writer)."""
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    getLogger().info(model)
    return model


def load_model(config, train_data, checkpoint_file):
    """:func:`build_model` with a checkpoint of ours loaded (a cached teacher, or a pruned run's
    ``finetune.pth``: the model shrinks to its pruned widths first), read with
    ``weights_only=True``."""
    return load_into(build_model(config, train_data), read_checkpoint(checkpoint_file))


def build_model_and_trainer(config, train_data, trainer_class=None):
    """:func:`build_model` and its trainer: ``trainer_class`` (a subclass, e.g. a benchmark's
    variant), else the one the registry names for the model."""
    model = build_model(config, train_data)
    trainer_class = trainer_class or get_trainer(config["MODEL_TYPE"], config["model"])
    return model, trainer_class(config, model)


@contextmanager
def model_and_trainer(config, train_data, trainer_class=None):
    """:func:`build_model_and_trainer` for a ``with`` block, after which the tensorboard writer
    RecBole's ``Trainer`` opens (and never closes) is closed."""
    model, trainer = build_model_and_trainer(config, train_data, trainer_class)
    try:
        yield model, trainer
    finally:
        trainer.tensorboard.close()


def run_recbole_prune(
    model=None, dataset=None, config_file_list=None, config_dict=None, saved=True
):
    """Train and test one model, RecBole-style; returns a dict with the test result.

    Args:
        model (str): model name, ours (e.g. ``GCNPruneGAN``) or RecBole's (``LightGCN``).
        dataset (str): dataset name (``ml-100k`` ships with RecBole).
        config_file_list (list of str): yaml files, as in RecBole.
        config_dict (dict): parameters overriding the files, as in RecBole.
        saved (bool): keep the best checkpoint and reload it for the test.
    """
    config = Config(model, dataset, config_file_list, config_dict)
    init_logger(config)
    logger = getLogger()
    logger.info(config)

    _, (train_data, valid_data, test_data) = load_data(config)
    with model_and_trainer(config, train_data) as (_, trainer):
        best_valid_score, best_valid_result = trainer.fit(
            train_data, valid_data, saved=saved, show_progress=config["show_progress"]
        )
        test_result = trainer.evaluate(
            test_data, load_best_model=saved, show_progress=config["show_progress"]
        )
        summary = summarise(trainer, test_result, test_data,
                            lambda: build_model(config, train_data))
    logger.info(set_color("best valid ", "yellow") + f": {best_valid_result}")
    logger.info(set_color("test result", "yellow") + f": {test_result}")
    result = {
        "model": config["model"],
        "dataset": config["dataset"],
        "best_valid_score": best_valid_score,
        "valid_score_bigger": config["valid_metric_bigger"],
        "best_valid_result": best_valid_result,
        "test_result": test_result,
    }
    report = getattr(trainer, "report", None)
    if report is not None:
        result["report"] = report
    if summary is not None:
        result["summary"] = summary
    return result
