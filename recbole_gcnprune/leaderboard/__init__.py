"""The leaderboard: many models, one data split, evaluation config and seed list.

``spec`` parses model specs, ``row`` runs one (model, seed) row, ``store`` keeps finished rows,
``local_backend``/``ray_backend`` execute rows, ``summary``/``render``/``plot`` write the results,
``runner`` ties them together and ``command`` is the ``--leaderboard`` command line.
"""

from recbole_gcnprune.leaderboard.runner import make_settings, run_leaderboard
from recbole_gcnprune.leaderboard.spec import ModelSpec, parse_models, parse_seeds

__all__ = ["ModelSpec", "make_settings", "parse_models", "parse_seeds", "run_leaderboard"]
