"""Code the bench scripts share; no script imports another.

* command line: :func:`argument_parser`, :func:`subcommand_parser`, :func:`parse_own_args`,
  :func:`run_subcommand`, :func:`run_module` for child processes, the flags of one seed's runs
  (:func:`add_one_run_args`, :func:`overrides`) and ``--threads`` (:func:`add_threads_flag`,
  :func:`set_threads`);
* table header: :func:`header_lines`, built from :func:`host`, :func:`load_avg` and
  :func:`versions`; :func:`shown_path` and :func:`relative_command` keep the machine's absolute
  paths out of tables;
* writes: :func:`write_text`, :func:`write_json`, :func:`publish` (atomic: an interrupted script
  leaves the old file or none);
* memory: :func:`proc_status_bytes`, :func:`reset_peak_rss` (Linux ``/proc``);
* the pruning comparison's rows, which ``prune_compare`` writes and ``sweep`` and
  ``scoring_speed`` read: :func:`run_row`, :func:`row_path`, :func:`dense_config`,
  :func:`valid_ndcg`;
* timing: ``recbole_gcnprune.measure.interleaved_full_sort_ms`` (a user's measure too).

torch, RecBole and the plugin are imported inside the functions that need them, so ``--help``
stays fast.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

from recbole_gcnprune.version import code_version

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
CRITERIA = ("gan", "magnitude", "taylor", "random", "train_small", "distill_small")


# ------------------------------------------------------------------------------- command line
def shown_path(path):
    """``path`` relative to the current directory, as tables show paths."""
    return os.path.relpath(path) if path else path


def _shown_arg(arg):
    """A command-line argument with an absolute path (alone or after ``key=``) made relative."""
    key, sep, value = arg.rpartition("=")
    return key + sep + shown_path(value) if os.path.isabs(value) else arg


def command_line(module, argv):
    """``python -m <module> <argv>``, quoted for a shell, absolute paths made relative."""
    return " ".join(["python", "-m", module] + [shlex.quote(_shown_arg(a)) for a in argv])


def relative_command(text):
    """A recorded command line with its absolute paths made relative."""
    return " ".join(shlex.quote(_shown_arg(a)) for a in shlex.split(text))


def parse_own_args(parse_args, module, argv=None):
    """``(parse_args(argv), command_line(module, argv))``, ``argv`` defaulting to
    ``sys.argv[1:]`` and kept as ``args.argv`` (to rerun the script in a child process).
    Afterwards ``sys.argv`` holds only the program name, because RecBole's ``Config`` reads
    ``--key=value`` from it and would take the script's flags for config keys."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    args.argv = argv
    sys.argv = sys.argv[:1]
    return args, command_line(module, argv)


def run_subcommand(module, parse_args, handlers, argv=None):
    """Parse the command line (:func:`parse_own_args`, a :func:`subcommand_parser`) and return
    ``handlers[args.command](args, command_line)``."""
    args, command = parse_own_args(parse_args, module, argv)
    return handlers[args.command](args, command)


def argument_parser(module, doc, **kwargs):
    """An ``ArgumentParser`` named ``python -m <module>``, described by ``doc``'s first
    paragraph."""
    return argparse.ArgumentParser(prog=f"python -m {module}",
                                   description=doc.split("\n\n")[0], **kwargs)


def subcommand_parser(module, doc, commands, formatter_class=argparse.HelpFormatter,
                      epilog=None):
    """:func:`argument_parser` whose first argument names one of ``commands`` (``{name:
    (one-line help, function adding its flags to a parser)}``), parsed into ``args.command``."""
    parser = argument_parser(module, doc, epilog=epilog)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (text, add_flags) in commands.items():
        add_flags(sub.add_parser(name, help=text, description=text,
                                 formatter_class=formatter_class))
    return parser


def run_module(module, argv, **kwargs):
    """Run ``python -m <module> <argv>`` in a fresh interpreter (``subprocess.run``'s
    ``kwargs``); raises when it fails."""
    return subprocess.run([sys.executable, "-m", module, *argv], check=True, **kwargs)


def add_threads_flag(parser):
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads(N); default: leave torch's default")


def set_threads(threads):
    """``torch.set_num_threads(threads)`` when the flag was given."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def add_one_run_args(parser):
    """``--dataset --config-files --set --seed --split-seed``: one seed's teacher and pruning
    runs, as ``prune_compare`` names them."""
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--config-files", nargs="*", default=None)
    parser.add_argument("--set", nargs="*", default=[], help="extra config overrides key=value")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--split-seed", type=int, default=2020)


def overrides(args):
    """``--set key=value ...`` as a dict, each value read as JSON where it parses."""
    return parse_pairs(args.set)


def parse_pairs(items):
    """``["key=value", ...]`` as a dict, each value read as JSON where it parses."""
    extra = {}
    for item in items:
        key, value = item.split("=", 1)
        try:
            extra[key] = json.loads(value)
        except json.JSONDecodeError:
            extra[key] = value
    return extra


def method_settings(method):
    """The config keys a method label sets: ``CRITERION[@ALLOCATION][+KEY=VALUE...]``, e.g.
    ``gan@global+adv_weight=0`` (gan, the global allocation, no adversarial term)."""
    head, *pairs = method.split("+")
    criterion, _, allocation = head.partition("@")
    if criterion not in CRITERIA:
        sys.exit(f"error: unknown criterion {criterion!r} in {method!r}: use one of "
                 f"{', '.join(CRITERIA)}, optionally @ALLOCATION and +KEY=VALUE")
    settings = {"prune_criterion": criterion, **parse_pairs(pairs)}
    if allocation:
        settings["prune_allocation"] = allocation
    return settings


# ------------------------------------------------------------------------------------ header
def now():
    """The local time with its UTC offset."""
    return datetime.datetime.now().astimezone()


def machine():
    """``x86_64, 2 CPUs, torch 2.13.0+cpu``: the host, without its name."""
    import torch

    return f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}"


def cpu():
    """``AMD EPYC 7B13, torch CPU capability AVX512``: the processor's model name and the
    instruction set torch's kernels chose. Deterministic algorithms repeat a run bit for bit on
    one CPU, not across these: two CPUs' kernels may round differently."""
    import torch

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{name}, torch CPU capability {torch.backends.cpu.get_cpu_capability()}"


def host(device="cpu", threads_set=None):
    """:func:`machine`, :func:`cpu`, torch's thread count and the device. ``threads_set``:
    whether ``--threads`` set the thread count; None (a script without the flag) says nothing."""
    import torch

    note = ("" if threads_set is None else
            " (set by --threads)" if threads_set else " (default, not set)")
    return (f"{machine()}, {cpu()}, torch threads={torch.get_num_threads()}{note}, "
            f"device={device}")


def load_avg():
    """The 1/5/15-minute load average, ``3.66/4.17/4.37``."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def git_commit():
    """Short HEAD commit, with ``(model/properties dirty)`` when the model code or its yaml files
    have uncommitted changes; ``?`` without git."""
    def git(*argv):
        return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "recbole_gcnprune", "properties")
    except OSError:
        return "?"
    return commit + (" (model/properties dirty)" if dirty else "")


def versions():
    """The leaderboard's ``software_versions()`` plus ``recbole_gcnprune: "0.1.0 @ <commit>"``."""
    import recbole_gcnprune
    from recbole_gcnprune.leaderboard.versions import software_versions

    return {**software_versions(),
            "recbole_gcnprune": f"{recbole_gcnprune.__version__} @ {git_commit()}"}


def versions_text(vers, only=None):
    """``python 3.11.7, torch 2.13.0+cpu, ...``; ``only``: just these keys, in this order."""
    return ", ".join(f"{k} {vers[k]}" for k in (vers if only is None else only))


def header_lines(title, command, threads_set=None, device="cpu"):
    """The head of a result table: title, command, date, host with its load, versions."""
    return [f"# {title}", "", f"Command: `{command}`  ",
            f"Date: {now().isoformat(timespec='seconds')}  ",
            f"Host: {host(device, threads_set)}, load {load_avg()}  ",
            f"Versions: {versions_text(versions())}  "]


# ------------------------------------------------------------------------------------ writes
def write_text(path, text):
    """Write ``text`` (UTF-8) atomically, creating the folder."""
    from recbole_gcnprune.atomic import atomic_write_text

    atomic_write_text(path, text)


def write_json(path, obj):
    """``obj`` as indented JSON with sorted keys (numpy/torch scalars as floats), atomically."""
    from recbole_gcnprune.atomic import atomic_write_json

    atomic_write_json(path, obj)


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def publish(text, output, default_name):
    """Write ``text`` to ``output`` (or ``bench/results/<default_name>``), print it and where
    it went."""
    output = output or os.path.join(RESULTS, default_name)
    write_text(output, text)
    print(text)
    print(f"wrote {shown_path(output)}")


# ------------------------------------------------------------------------------------ memory
def proc_status_bytes(key):
    """``key`` of ``/proc/self/status`` (``VmRSS``; ``VmHWM``, the peak RSS) in bytes; NaN when
    the kernel does not report it. Linux only."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024  # kB
    return float("nan")


def reset_peak_rss():
    """Reset VmHWM to the current RSS (write 5 to ``/proc/self/clear_refs``, Linux >= 4.0);
    False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ------------------------------------------------------------------ pruning comparison rows
# ``args`` below carries prune_compare's flags: dataset, split_seed, config_files, set,
# work_dir, checkpoint_dir and render_only.
def row_settings(args):
    """What a row records of its settings, to be refused under others."""
    return {"overrides": overrides(args), "config_files": args.config_files or []}


def row_path(args, seed, ratio, criterion, work_dir=None):
    """Where the row of (seed, ratio, criterion) is cached in ``work_dir`` (``--work-dir``)."""
    label = criterion.replace("@", "-at-").replace("+", "-with-").replace("=", "-")
    name = f"row-{seed}-split{args.split_seed}-{float(ratio)}-{label}.json"
    return os.path.join(work_dir or args.work_dir, args.dataset, name)


def checkpoint_dir(args):
    """Where teachers and pruning runs are kept: ``--checkpoint-dir`` or ``WORK_DIR/saved``."""
    return args.checkpoint_dir or os.path.join(args.work_dir, "saved")


def dense_config(args, seed):
    """Config of the dense teacher of ``seed`` under these settings."""
    from recbole_gcnprune.config import Config

    return Config("GCNPruneGAN", args.dataset, args.config_files,
                  {"seed": seed, "split_seed": args.split_seed, "prune_criterion": "none",
                   **overrides(args)})


def cached_row(args, path):
    """The row cached at ``path`` if this code made it (its ``code_version``), or any cached row
    under ``--render-only``; None when it must be computed (again)."""
    if not os.path.isfile(path):
        return None
    row = read_json(path)
    if args.render_only or row.get("code_version") == code_version():
        return row
    print(f"{shown_path(path)} was made by other code: computing it again", file=sys.stderr)
    return None


def run_row(args, seed, ratio, criterion):
    """Prune, fine-tune and test one (seed, ratio, criterion), cached as JSON in the work dir
    (see :func:`cached_row`); None when it is missing under ``--render-only``."""
    path = row_path(args, seed, ratio, criterion)
    row = cached_row(args, path)
    if row is not None:
        return checked_row(row, args, path)
    if args.render_only:
        return None
    from recbole_gcnprune.quick_start import run_recbole_prune

    start = time.time()
    config = {"seed": seed, "split_seed": args.split_seed, "prune_ratio": ratio,
              "checkpoint_dir": checkpoint_dir(args), **overrides(args),
              **method_settings(criterion)}
    result = run_recbole_prune("GCNPruneGAN", args.dataset, args.config_files, config)
    report = result["report"]
    row = {"seed": seed, "prune_ratio": ratio, "criterion": criterion, **row_settings(args),
           "test": {k: float(v) for k, v in result["test_result"].items()},
           "parameters": report["pruned"]["parameters"],
           "dense_parameters": report["dense"]["parameters"],
           "widths": report["kept"], "wall_seconds": time.time() - start,
           "finetune_seconds": report.get("finetune_seconds"),
           "teacher_train_seconds": report.get("teacher", {}).get("train_seconds"),
           "checkpoint": os.path.join(report["run_dir"], "finetune.pth"),
           "teacher_file": report.get("teacher_file"), "cpu": cpu(),
           "code_version": report.get("code_version"),
           "ndcg_by_popularity": popularity_ndcg(args, config, report)}
    write_json(path, row)
    return row


def popularity_ndcg(args, config, report):
    """Test NDCG@20 by popularity group of the test items (head, torso, tail) of a run's
    fine-tuned model."""
    from recbole_gcnprune.config import Config
    from recbole_gcnprune.popularity_metrics import ndcg_by_popularity
    from recbole_gcnprune.quick_start import load_data, load_model

    config = Config("GCNPruneGAN", args.dataset, args.config_files, config)
    _, (train, _valid, test) = load_data(config)
    model = load_model(config, train, os.path.join(report["run_dir"], "finetune.pth"))
    return ndcg_by_popularity(model, train, test)


def code_versions(rows):
    """The code versions that made ``rows``, for a table's header."""
    found = sorted({row.get("code_version") or "not recorded" for row in rows})
    return ", ".join(found) if found else "none"


def checked_row(row, args, path):
    """``row`` if it was computed under these settings (rows from before settings were recorded
    are taken as they are); otherwise exit with an error."""
    if "overrides" in row and {k: row[k] for k in row_settings(args)} != row_settings(args):
        sys.exit(f"error: {shown_path(path)} was computed with {row['overrides']} and config "
                 f"files {row['config_files']}, not {row_settings(args)}: use another --work-dir")
    return row


def run_json(row, name):
    """A JSON file (``report.json``, ``finetune.json``) of the row's run folder."""
    return read_json(os.path.join(os.path.dirname(row["checkpoint"]), name))


def valid_ndcg(row):
    """Best validation NDCG@20 of the row's fine-tuning."""
    return run_json(row, "finetune.json")["best_valid_result"]["ndcg@20"]


def mean_std(values):
    """Mean and sample standard deviation (0 for one value)."""
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)
