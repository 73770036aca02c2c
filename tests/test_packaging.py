"""The wheel ships properties/ as recbole_gcnprune/properties/, and the installed package finds it.

Fails without the fix: with the ``[tool.setuptools.package-dir]`` mapping (or the package-data
globs) removed from pyproject.toml, the yaml files are missing from the wheel and
``properties_dir()`` raises FileNotFoundError inside the unpacked wheel (checked by editing the
copied pyproject.toml).

The build runs on a copy of the source (pyproject.toml, recbole_gcnprune/, properties/, README*,
LICENSE*) so that setuptools' in-tree ``build/`` and ``*.egg-info`` never race with other work in
the checkout.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).absolute().parents[1]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def _copy_source(dest):
    for name in ("recbole_gcnprune", "properties"):
        shutil.copytree(REPO_ROOT / name, dest / name, ignore=IGNORE)
    for pattern in ("pyproject.toml", "setup.py", "setup.cfg", "MANIFEST.in", "README*", "LICENSE*"):
        for path in REPO_ROOT.glob(pattern):
            shutil.copy2(path, dest / path.name)
    return dest


def _can_build_wheels():
    """``wheel`` importable, or setuptools>=70.1, which ships bdist_wheel itself (our
    build-system pins setuptools<81 and this venv has no separate ``wheel``)."""
    return any(importlib.util.find_spec(name) is not None
               for name in ("wheel", "setuptools.command.bdist_wheel"))


@pytest.fixture(scope="module")
def wheel_path(tmp_path_factory):
    if not _can_build_wheels():
        pytest.skip("cannot build wheels here: neither `wheel` nor setuptools' bdist_wheel "
                    "is importable (pip install wheel)")
    src = _copy_source(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("wheelhouse")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-cache-dir", "-q", "-w", str(out), str(src)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = out.glob("recbole_gcnprune-*.whl")
    return wheel


def test_wheel_contains_properties(wheel_path):
    names = set(zipfile.ZipFile(wheel_path).namelist())
    assert "recbole_gcnprune/properties/overall.yaml" in names
    assert "recbole_gcnprune/properties/model/GCNPruneGAN.yaml" in names
    assert "recbole_gcnprune/config.py" in names
    for init in sorted(Path(REPO_ROOT, "recbole_gcnprune").glob("*/__init__.py")):  # every subpackage
        assert f"recbole_gcnprune/{init.parent.name}/__init__.py" in names, init.parent.name
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel_path).read(entry_points).decode()
    assert "recbole-prune = recbole_gcnprune.cli:main" in text


PROBE = """
import recbole_gcnprune
from recbole_gcnprune.config import Config, properties_dir
print(recbole_gcnprune.__file__)
print(properties_dir())
config = Config("GCNPruneGAN", "tiny", config_dict={"data_path": ".", "use_gpu": False})
print(config["valid_metric"], config["embedding_size"])
"""


def test_properties_dir_inside_unpacked_wheel(wheel_path, tmp_path):
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel_path).extractall(unpacked)
    # PYTHONPATH comes before the editable install's finder; cwd is not the checkout.
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    proc = subprocess.run([sys.executable, "-c", PROBE], check=False, cwd=tmp_path, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    package_file, props, settings = proc.stdout.strip().splitlines()[-3:]
    assert Path(package_file).is_relative_to(unpacked)  # the wheel's copy was imported
    assert Path(props) == unpacked / "recbole_gcnprune" / "properties"
    assert settings == "NDCG@20 64"  # overall.yaml and model/GCNPruneGAN.yaml read from the wheel
