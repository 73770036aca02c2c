"""The code version: what shapes a trained model, not how it is written down or presented."""

import os

from recbole_gcnprune import version


def _fingerprint_of(tmp_path, source):
    path = tmp_path / "module.py"
    path.write_text(source)
    return version._fingerprint(str(path))


def test_comments_docstrings_and_layout_do_not_count(tmp_path):
    plain = _fingerprint_of(tmp_path, "def f(x):\n    return x + 1\n")
    noted = _fingerprint_of(tmp_path, '"""A module."""\n\n\ndef f(x):  # add one\n'
                                      '    """One more."""\n    return (x +\n            1)\n')
    assert plain == noted
    assert plain != _fingerprint_of(tmp_path, "def f(x):\n    return x + 2\n")


def test_what_only_presents_or_serves_results_is_left_out():
    hashed = _hashed_files(version.NOT_HASHED)
    assert "trainer/gan_prune_trainer.py" in hashed and "settings.py" in hashed
    assert not any(path.startswith(("serving/", "leaderboard/", "properties/")) for path in hashed)
    assert "cli.py" not in hashed and "run_summary.py" not in hashed


def test_the_version_is_twelve_hex_digits():
    assert len(version.code_version()) == 12
    int(version.code_version(), 16)


def _hashed_files(skip):
    return {os.path.relpath(path, version.PACKAGE_DIR).replace(os.sep, "/")
            for path in version._source_files(version.PACKAGE_DIR, ".py", skip)}


def test_recbole_models_are_versioned_without_the_plugin_models_code(monkeypatch):
    plugin_only = (_hashed_files(version.NOT_HASHED)
                   - _hashed_files(version.NOT_HASHED + version.PLUGIN_MODEL_CODE))
    assert {"settings.py", "pruning/gan_search.py", "trainer/gan_prune_trainer.py",
            "model/gcn_prune_gan.py"} <= plugin_only
    assert not plugin_only & {"compat.py", "config.py", "quick_start.py", "measure.py"}
    fingerprint = version._fingerprint
    version._hashed_version.cache_clear()
    before = {plugin: version.code_version(plugin) for plugin in (False, True)}
    monkeypatch.setattr(version, "_fingerprint", lambda path: fingerprint(path) + (
        "changed" if path.endswith("gan_search.py") else ""))
    version._hashed_version.cache_clear()
    try:
        assert version.code_version(plugin_model=False) == before[False]
        assert version.code_version() != before[True]
    finally:
        version._hashed_version.cache_clear()
