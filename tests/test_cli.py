"""The command line: user errors exit 2 with one line on stderr (no traceback, no hang), and
``--config_files a.yaml b.yaml`` applies both files.

Fails without the fix: with ``main``'s ``except UserInputError`` removed the subprocesses exit 1
with a traceback; without ``ensure_dataset_files`` RecBole itself fails on the missing dataset
with a multi-line traceback (or asks ``input()`` for a downloadable one, which stdin=DEVNULL
turns into EOFError rather than a hang); ``config_files`` is checked on both spellings.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from recbole_gcnprune import quick_start
from recbole_gcnprune.cli import build_parser, config_files, main
from recbole_gcnprune.config import Config

REPO_ROOT = Path(__file__).absolute().parents[1]
SCRIPT = "run_recbole_prune.py"
TIMEOUT_S = 180

# Run as real processes (exit status, stderr, no hang); the other error cases run in-process.
CASES = {
    "unknown_model": ["--model=NoSuchModel"],
    "missing_dataset": ["--dataset=nonexistent", "--data_path={tmp}"],
}


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """Run every error case as ``python run_recbole_prune.py ...``, concurrently (each pays the
    import of torch + RecBole); returns ``{case: (returncode, stdout, stderr)}``."""
    tmp = tmp_path_factory.mktemp("cli")
    procs = {}
    for case, args in CASES.items():
        argv = [a.format(tmp=tmp) for a in args]
        procs[case] = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / SCRIPT), *argv], cwd=tmp,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
    results = {}
    try:
        for case, proc in procs.items():
            out, err = proc.communicate(timeout=TIMEOUT_S)
            results[case] = (proc.returncode, out, err)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    results["tmp"] = tmp
    return results


def _stderr_lines(err):
    return [line for line in err.splitlines() if line.strip()]


def test_unknown_model_exits_2_with_one_line(cli_runs):
    rc, _, err = cli_runs["unknown_model"]
    assert rc == 2, err[-2000:]
    (line,) = _stderr_lines(err)  # exactly one line
    assert line.startswith("error: unknown model 'NoSuchModel'")


def test_missing_dataset_exits_2_naming_expected_folder(cli_runs):
    rc, _, err = cli_runs["missing_dataset"]
    expected = cli_runs["tmp"] / "nonexistent" / "nonexistent.inter"
    assert rc == 2, err[-2000:]
    assert "Traceback" not in err
    errors = [line for line in _stderr_lines(err) if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0] == _stderr_lines(err)[-1]
    assert errors[0].startswith("error: dataset 'nonexistent' not found")
    assert str(expected) in errors[0]


def _main_in_process(argv, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [SCRIPT, *argv])  # RecBole reads --key=value from sys.argv
    rc = main(argv)
    return rc, capsys.readouterr().err


def test_main_in_process_unknown_model(monkeypatch, capsys):
    rc, err = _main_in_process(["--model=NoSuchModel", "--dataset=tiny"], monkeypatch, capsys)
    assert rc == 2
    (line,) = _stderr_lines(err)
    assert line.startswith("error: unknown model 'NoSuchModel'")


def test_typo_model_names_close_models(monkeypatch, capsys):
    rc, err = _main_in_process(["--model=LightGCM", "--dataset=tiny"], monkeypatch, capsys)
    assert rc == 2
    (line,) = _stderr_lines(err)
    assert line.startswith("error: unknown model 'LightGCM': did you mean LightGCN")


def test_invalid_value_exits_2_with_one_line(monkeypatch, capsys):
    rc, err = _main_in_process(["--model=GCNPruneGAN", "--dataset=tiny", "--layer_transform=bogus"],
                               monkeypatch, capsys)
    assert rc == 2
    (line,) = _stderr_lines(err)
    assert line.startswith("error: invalid layer_transform='bogus': must be one of none, linear")


# --------------------------------------------------------------------------- config files
@pytest.mark.parametrize(
    "values, expected",
    [
        (None, None),
        ([], None),
        (["a.yaml", "b.yaml"], ["a.yaml", "b.yaml"]),  # --config_files a.yaml b.yaml
        (["a.yaml b.yaml"], ["a.yaml", "b.yaml"]),  # RecBole's --config_files "a.yaml b.yaml"
        (["a.yaml  b.yaml", "c.yaml"], ["a.yaml", "b.yaml", "c.yaml"]),
    ],
)
def test_config_files(values, expected):
    assert config_files(values) == expected


def test_parser_keeps_other_keys_for_recbole():
    args, rest = build_parser().parse_known_args(
        ["--model=LightGCN", "--config_files", "a.yaml", "b.yaml", "--epochs=1"])
    assert args.model == "LightGCN"
    assert args.config_files == ["a.yaml", "b.yaml"]
    assert rest == ["--epochs=1"]


def test_main_applies_both_config_files(tiny_data, in_tmp, monkeypatch, capsys):
    a = in_tmp / "a.yaml"
    b = in_tmp / "b.yaml"
    a.write_text("embedding_size: 8\ntransform_size: 2\n")
    b.write_text("n_layers: 1\ntransform_size: 4\n")  # the later file wins on shared keys
    argv = [
        "--model=GCNPruneGAN", "--dataset=tiny", f"--data_path={tiny_data}",
        "--config_files", str(a), str(b),
        "--epochs=1", "--eval_step=1", "--state=WARNING", "--use_gpu=False",
        "--show_progress=False", f"--checkpoint_dir={in_tmp / 'saved'}", "--prune_criterion=none",
    ]
    built = []

    class SpyConfig(Config):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(quick_start, "Config", SpyConfig)
    monkeypatch.setattr(sys, "argv", [SCRIPT, *argv])  # RecBole reads --key=value from sys.argv
    assert main(argv) == 0, capsys.readouterr().err[-2000:]

    (config,) = built
    assert config["embedding_size"] == 8  # from a.yaml
    assert config["n_layers"] == 1  # from b.yaml
    assert config["transform_size"] == 4
    assert config["epochs"] == 1  # command line
    out = capsys.readouterr().out
    assert out.startswith("GCNPruneGAN on tiny: test result")
    assert "f1@10" in out
