"""What every bench script shares: the header of its result table, its flags kept from RecBole,
atomic writes of its results, and the Linux memory readings.

* header pieces: :func:`command_line`, :func:`now`, :func:`host`, :func:`cpu`, :func:`load_avg`,
  :func:`versions` (``software_versions()`` plus this package's version at the git commit) and
  :func:`versions_text`; each script lays them out in its own table;
* :func:`parse_own_args`: parse the script's flags, then take them off ``sys.argv``, because
  RecBole's ``Config`` reads ``--key=value`` from it and would treat them as config keys;
  :func:`add_threads_flag` / :func:`set_threads` for ``--threads``; :func:`add_one_run_args`,
  :func:`add_finished_rows_args` and :func:`add_cached_teacher_args` for the flags that name
  one seed's runs;
* :func:`write_text`, :func:`write_json`, :func:`write_csv` (and :func:`publish_table`, which
  also prints the table): temp file beside the target, then
  renamed over it (``recbole_gcnprune.atomic``), so an interrupted
  script leaves the old file or none, never a partial one;
* :func:`proc_status_bytes` / :func:`reset_peak_rss`: RSS and its peak (VmHWM) from ``/proc``;
* :func:`interleaved_full_sort_ms`: full-sort time of several models measured side by side;
* :func:`largest_weight_difference`: how far apart two runs' weights ended;
* :func:`cpu_row_config`: a leaderboard row's config, on the CPU;
* :func:`cached_teacher_run`: the model and trainer of one run whose teacher is cached.

Scripts run as ``python bench/<script>.py`` from the repository root and import this module as
``bench.common`` after putting the repository root first on ``sys.path``::

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from bench import common

torch, RecBole and the plugin are imported inside the functions that need them, so ``--help``
stays fast.
"""

import csv
import datetime
import io
import os
import platform
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")


# ------------------------------------------------------------------------------------ flags
def command_line(script, argv):
    """``python bench/<script>.py <argv>``, the script relative to the repository root and the
    arguments quoted for a shell."""
    return "python " + " ".join([os.path.relpath(script, ROOT)] + [shlex.quote(a) for a in argv])


def parse_own_args(parse_args, script, argv=None):
    """``(parse_args(argv), command_line(script, argv))`` with ``argv`` defaulting to
    ``sys.argv[1:]``; afterwards ``sys.argv`` holds only the program name, so RecBole's ``Config``
    (which reads ``--key=value`` from ``sys.argv``) never sees the script's flags."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    sys.argv = sys.argv[:1]
    return args, command_line(script, argv)


def add_threads_flag(parser):
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads(N); default: leave torch's default")


def set_threads(threads):
    """``torch.set_num_threads(threads)`` when the flag was given."""
    if threads:
        import torch

        torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------ header
def now():
    """The local time with its UTC offset (tables print ``isoformat(timespec="seconds")``)."""
    return datetime.datetime.now().astimezone()


def host(device="cpu", threads_set=None):
    """``vm (x86_64), AMD EPYC, torch CPU capability AVX512, os.cpu_count()=2, torch threads=1
    (set by --threads), device=cpu``.

    ``threads_set``: whether the script's ``--threads`` set torch's thread count; None (a script
    without the flag) leaves the note out."""
    import torch

    note = ("" if threads_set is None else
            " (set by --threads)" if threads_set else " (default, not set)")
    return (f"{platform.node()} ({platform.machine()}), {cpu()}, "
            f"os.cpu_count()={os.cpu_count()}, torch threads={torch.get_num_threads()}{note}, "
            f"device={device}")


def cpu():
    """``AMD EPYC, torch CPU capability AVX512``: the processor's model name and the instruction
    set torch's kernels chose. Deterministic algorithms make a run repeat bit for bit on one
    machine, not across these: two CPUs' kernels may round differently."""
    import torch

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{name}, torch CPU capability {torch.backends.cpu.get_cpu_capability()}"


def largest_weight_difference(state, reference):
    """The largest absolute difference between two state dicts' floating-point tensors."""
    return max((state[k] - reference[k]).abs().max().item() for k in state
               if state[k].is_floating_point())


def load_avg():
    """The 1/5/15-minute load average, ``3.66/4.17/4.37``."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def git_commit():
    """Short HEAD commit, with ``(model/properties dirty)`` when the model code or its yaml files
    have uncommitted changes; ``?`` without git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "recbole_gcnprune", "properties"],
                               cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
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
    keys = vers if only is None else only
    return ", ".join(f"{k} {vers[k]}" for k in keys)


# ------------------------------------------------------------------------------------ writes
def write_text(path, text):
    """Write ``text`` (UTF-8) atomically, creating the folder."""
    from recbole_gcnprune.atomic import atomic_write_text

    atomic_write_text(path, text)


def publish_table(output, default_name, text):
    """Write ``text`` to ``output`` (or ``results/<default_name>``), print it and where it went."""
    output = output or os.path.join(RESULTS, default_name)
    write_text(output, text)
    print(text)
    print(f"wrote {output}")


def write_json(path, obj):
    """``obj`` as indented JSON with sorted keys (numpy/torch scalars as floats), atomically."""
    from recbole_gcnprune.atomic import atomic_write_json

    atomic_write_json(path, obj)


def write_csv(path, fieldnames, rows):
    """``rows`` (dicts) under a ``fieldnames`` header, as ``csv.DictWriter`` writes them."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=fieldnames)
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


# ------------------------------------------------------------------------------------ memory
def proc_status_bytes(key):
    """``key`` of ``/proc/self/status`` (``VmRSS``, ``VmHWM``: the peak RSS) in bytes; NaN when
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


def add_one_run_args(parser):
    """``--dataset --config-files --set --seed --split-seed``: the settings of one seed's cached
    teacher and pruning runs, as ``prune_compare.py`` names them."""
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--config-files", nargs="*", default=None)
    parser.add_argument("--set", nargs="*", default=[], help="extra config overrides key=value")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--split-seed", type=int, default=2020)


def add_finished_rows_args(parser, prune_ratios, ratios_help=None):
    """:func:`add_one_run_args` plus ``--prune-ratios --criterion --work-dir``: the pruned rows
    ``prune_compare.py`` finished, which ``scoring_breakdown.finished_rows`` reads."""
    add_one_run_args(parser)
    parser.add_argument("--prune-ratios", default=prune_ratios, help=ratios_help)
    parser.add_argument("--criterion", default="gan")
    parser.add_argument("--work-dir", required=True,
                        help="prune_compare's work dir with the rows")


def add_cached_teacher_args(parser):
    """:func:`add_one_run_args` plus ``--checkpoint-dir`` (required): where
    :func:`cached_teacher_run` finds the teacher ``prune_compare.py`` cached."""
    add_one_run_args(parser)
    parser.add_argument("--checkpoint-dir", required=True,
                        help="prune_compare's --checkpoint-dir, where the teacher is cached")


def cached_teacher_run(args, criterion):
    """``((train, valid, test), model, trainer)`` of ``criterion`` under
    :func:`add_one_run_args`' settings and ``args.checkpoint_dir``; exits with a one-line error
    when ``prune_compare.py`` has not cached that teacher yet."""
    from bench.prune_compare import overrides
    from recbole_gcnprune.config import Config
    from recbole_gcnprune.quick_start import build_model_and_trainer, load_data

    config = Config("GCNPruneGAN", args.dataset, args.config_files,
                    {"seed": args.seed, "split_seed": args.split_seed,
                     "prune_criterion": criterion, "checkpoint_dir": args.checkpoint_dir,
                     **overrides(args)})
    _, loaders = load_data(config)
    model, trainer = build_model_and_trainer(config, loaders[0])
    if not os.path.isfile(trainer.teacher_file):
        sys.exit(f"error: no cached teacher {trainer.teacher_file}: run bench/prune_compare.py "
                 "with the same settings and --checkpoint-dir first")
    return loaders, model, trainer


def add_backbone_args(parser):
    """The dense backbone's flags, shared by the scripts that compare it with LightGCN."""
    parser.add_argument("--embedding-size", type=int, default=64)
    parser.add_argument("--n-layers", type=int, default=3)
    parser.add_argument("--reg-weight", type=float, default=1e-5,
                        help="RecBole's LightGCN.yaml value")
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--batch-size", type=int, default=2048, help="train_batch_size")


def backbone_config(args):
    """Config keys of :func:`add_backbone_args`'s flags."""
    return {
        "embedding_size": args.embedding_size,
        "n_layers": args.n_layers,
        "reg_weight": args.reg_weight,
        "learning_rate": args.learning_rate,
        "train_batch_size": args.batch_size,
    }


def cpu_row_config(row):
    """The RecBole config a leaderboard row ran with, moved to the CPU."""
    from recbole_gcnprune.leaderboard.row import build_config

    settings = dict(row["settings"], overrides={**row["settings"]["overrides"], "use_gpu": False})
    return build_config(dict(row, settings=settings))


def interleaved_full_sort_ms(models, rounds, device="cpu", min_seconds=0.0):
    """``{key: median full-sort ms per 1,000 users}`` of ``models`` (``{key: (model, loader)}``),
    every model timed once in turn within each round (``measure``'s figure): at least ``rounds``
    rounds (and one), and more until ``min_seconds`` have passed. The 2-vCPU VM has slow spells
    of 0.2 s to about 10 s (``speed_timeline.py``); a longer window is less likely to fall wholly
    in one state than 7 rounds of a few ms each."""
    import statistics
    import time

    from recbole_gcnprune.measure import full_sort_ms_per_1000_users

    times = {key: [] for key in models}
    start, done = time.perf_counter(), 0
    while models and (done < max(rounds, 1) or time.perf_counter() - start < min_seconds):
        for key, (model, loader) in models.items():
            times[key].append(full_sort_ms_per_1000_users(model, loader, device, repeats=1))
        done += 1
    return {key: statistics.median(v) for key, v in times.items()}
