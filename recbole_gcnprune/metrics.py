"""F1@K for RecBole's evaluator, and its registration.

RecBole's metric registry (``recbole.evaluator.register``) only scans
``recbole.evaluator.metrics``; :func:`register_metrics` adds ours to its dicts in place, which must
happen before a ``Config`` is built (``Config`` validates ``metrics`` against those dicts).
"""

import numpy as np
from recbole.evaluator import register
from recbole.evaluator.base_metric import TopkMetric


class F1(TopkMetric):
    r"""Per-user F1@K, averaged over users.

    With :math:`h_u` hits in the top K and :math:`|R(u)|` relevant items,
    :math:`P = h_u/K`, :math:`R = h_u/|R(u)|` and
    :math:`\mathrm{F1@K} = \frac{1}{|U|}\sum_u \frac{2PR}{P+R} = \frac{1}{|U|}\sum_u \frac{2h_u}{K+|R(u)|}`.
    """

    def calculate_metric(self, dataobject):
        pos_index, pos_len = self.used_info(dataobject)
        result = self.metric_info(pos_index, pos_len)
        return self.topk_result("f1", result)

    def metric_info(self, pos_index, pos_len):
        hits = np.cumsum(pos_index, axis=1)
        k = np.arange(1, pos_index.shape[1] + 1)
        return 2.0 * hits / (k.reshape(1, -1) + pos_len.reshape(-1, 1))


PLUGIN_METRICS = {"f1": F1}


def register_metrics():
    """Add the plugin metrics to RecBole's registry dicts (idempotent)."""
    for name, metric_cls in PLUGIN_METRICS.items():
        register.metrics_dict[name] = metric_cls
        register.metric_information[name] = metric_cls.metric_need
        register.metric_types[name] = metric_cls.metric_type
        if metric_cls.smaller and name not in register.smaller_metrics:
            register.smaller_metrics.append(name)
