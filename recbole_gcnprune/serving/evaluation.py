"""RecBole's full-sort test evaluation, step by step, so that any score source (the model, an
export) is masked and measured exactly as RecBole's ``Trainer.evaluate`` measures a model."""

import numpy as np
import torch
from recbole.evaluator import Collector, Evaluator

DECIMALS = 10  # RecBole rounds metrics to ``metric_decimal_place`` (4 by default)


class RecBoleEvaluation:
    """RecBole's ``Collector`` and ``Evaluator`` for one score source."""

    def __init__(self, config, train_data, metrics=None, topk=None, decimals=None):
        settings = dict(config.final_config_dict)
        settings["metrics"] = list(metrics or config["metrics"])
        settings["topk"] = sorted(set(topk or config["topk"]))
        settings["metric_decimal_place"] = decimals or config["metric_decimal_place"]
        self.collector = Collector(settings)
        self.collector.data_collect(train_data)
        self.evaluator = Evaluator(settings)

    def add(self, scores, batch):
        """Collect one batch's masked scores (``batch``: the loader's 4-tuple)."""
        interaction, _, positive_u, positive_i = batch
        self.collector.eval_batch_collect(scores, interaction, positive_u, positive_i)

    def result(self):
        """``{metric@k: float}``."""
        return {key: float(value) for key, value in
                self.evaluator.evaluate(self.collector.get_data_struct()).items()}


def masked(scores, history_index):
    """RecBole's full-sort masking: the padding item and the user's history scored ``-inf``."""
    scores[:, 0] = -np.inf
    if history_index is not None:
        scores[history_index] = -np.inf
    return scores


@torch.no_grad()
def model_scores(model, batch, device):
    """The model's masked full-sort scores of one test batch, as RecBole's trainer makes them."""
    interaction, history_index, _, _ = batch
    scores = model.full_sort_predict(interaction.to(device)).view(-1, model.n_items)
    return masked(scores, history_index)


def metrics_on_test_split(source):
    """The model's test result under the config's own metrics (RecBole's rounding)."""
    model, config = source.model, source.config
    train_data, _, test_data = source.loaders
    evaluation = RecBoleEvaluation(config, train_data)
    model.eval()
    for batch in test_data:
        evaluation.add(model_scores(model, batch, config["device"]), batch)
    return evaluation.result()
