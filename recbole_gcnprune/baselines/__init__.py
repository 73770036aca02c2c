"""Scorers RecBole's own baselines lack, installed for every run (``install``)."""

from recbole_gcnprune.baselines import neumf


def install():
    """Install every baseline addition (idempotent)."""
    neumf.install()
