"""The code version that teachers, runs and leaderboard rows record and are keyed by.

A short hash of what shapes a trained model and its scores: the syntax tree of every module
that trains, prunes or evaluates (comments, docstrings and layout left out) and the parsed
``properties/`` yaml files. What only presents or serves results (the command line, the
leaderboard's runner and tables, the run summary, serving) is left out, so changing it keeps
the caches. A cached teacher, run or row made by other code has another key, so it is
recomputed, never silently reused.

A row of one of RecBole's own models runs none of the plugin model's code (its model, pruning,
trainer and pruning settings, and its yaml), so its version leaves those out too: a change to
pruning reruns the pruned rows of a leaderboard, not the built-in baselines.
"""

import ast
import hashlib
import os
from functools import lru_cache

import yaml

from recbole_gcnprune.paths import properties_dir

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# relative to the package: what only presents or serves results, and the wheel's properties/
NOT_HASHED = ("cli.py", "cli_args.py", "run_summary.py", "version.py", "leaderboard",
              "serving", "properties")

# what only GCNPruneGAN runs: relative to the package, and to the properties folder
PLUGIN_MODEL_CODE = ("model", "pruning", "trainer", "settings.py")
PLUGIN_MODEL_PROPERTIES = (os.path.join("model", "GCNPruneGAN.yaml"),)


def _without_docstrings(tree):
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _source_files(folder, suffix, skip=()):
    for root, dirs, files in os.walk(folder):
        relative = os.path.relpath(root, folder)
        dirs[:] = sorted(d for d in dirs if d != "__pycache__"
                         and os.path.normpath(os.path.join(relative, d)) not in skip)
        for name in sorted(files):
            if name.endswith(suffix) and os.path.normpath(os.path.join(relative, name)) not in skip:
                yield os.path.join(root, name)


def _fingerprint(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".py"):
        return ast.dump(_without_docstrings(ast.parse(text)))
    return repr(yaml.safe_load(text))


def code_version(plugin_model=True):
    """12 hex digits naming this package's behaviour (see the module docstring); without the
    plugin model's own code when ``plugin_model`` is False (a row of one of RecBole's models)."""
    return _hashed_version(plugin_model)


@lru_cache(maxsize=None)
def _hashed_version(with_plugin_model):
    code_skip, properties_skip = (((), ()) if with_plugin_model
                                  else (PLUGIN_MODEL_CODE, PLUGIN_MODEL_PROPERTIES))
    digest = hashlib.sha256()
    for folder, suffix, skip in ((PACKAGE_DIR, ".py", NOT_HASHED + code_skip),
                                 (properties_dir(), ".yaml", properties_skip)):
        for path in _source_files(folder, suffix, skip):
            relative = os.path.relpath(path, folder).replace(os.sep, "/")
            digest.update(f"{relative}\0{_fingerprint(path)}\0".encode())
    return digest.hexdigest()[:12]
