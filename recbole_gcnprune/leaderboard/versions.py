"""Versions of the software a leaderboard row ran on."""

import platform
from importlib import metadata

PACKAGES = ("torch", "recbole", "torch-pruning", "numpy", "scipy")


def _version(package):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def software_versions():
    """``{"python": "3.11.7", "torch": "2.13.0+cpu", ...}``."""
    versions = {"python": platform.python_version()}
    versions.update({package: _version(package) for package in PACKAGES})
    return versions
