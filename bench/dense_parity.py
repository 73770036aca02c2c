"""Dense GCNPruneGAN (layer_transform none, prune_criterion none) vs RecBole's LightGCN.

Two commands, the same data, seed and backbone flags (64 dims, 3 layers, LightGCN's
hyperparameters):

* ``parity`` (the default when no command is named): test NDCG@10/20 and Recall@20 of both,
  trained to early stop; acceptance: GCNPruneGAN's test NDCG@20 within ``--tolerance`` (2%,
  relative) of LightGCN's. Each (model, seed) is one ``run_recbole_prune`` call with the same
  config dict (only GCNPruneGAN's own keys added). Finished runs are cached as JSON under
  ``--cache-dir`` and skipped on rerun (``--fresh`` ignores them, ``--report-only`` only rebuilds
  the table). The best epoch, the validation curve and the epoch times are recorded by wrapping
  RecBole's ``Trainer._train_epoch`` / ``_valid_epoch`` during a run.
* ``epoch-time``: median training-epoch wall time of both, side by side in one process (epochs
  interleaved, A,B then B,A, after ``--warmup`` untimed ones); acceptance: ratio GCNPruneGAN /
  LightGCN <= ``--threshold`` (0.8). Also the full-sort evaluation pass time and, with
  ``--memory``, each model's RSS after building and peak RSS (VmHWM, reset before each step)
  during one epoch and one evaluation, each model in a fresh child process (Linux only).

    python -m bench.dense_parity --seeds 2020 2021 2022     # bench/results/dense_parity.{md,csv}
    python -m bench.dense_parity epoch-time --no-memory    # bench/results/epoch_time.{md,csv}
"""

import argparse
import csv
import hashlib
import io
import json
import os
import statistics
import sys
import time
from typing import NamedTuple

from bench import common

MODULE = "bench.dense_parity"
OURS, BASELINE = "GCNPruneGAN", "LightGCN"
METRICS = ("ndcg@10", "ndcg@20", "recall@20")
COMMANDS = ("parity", "epoch-time")
MIB = 2**20


# ------------------------------------------------------------------------------------ flags
def add_backbone_args(parser):
    """The dataset, the dense backbone's flags and ``--threads``, shared by both commands."""
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--embedding-size", type=int, default=64)
    parser.add_argument("--n-layers", type=int, default=3)
    parser.add_argument("--reg-weight", type=float, default=1e-5,
                        help="RecBole's LightGCN.yaml value")
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--batch-size", type=int, default=2048, help="train_batch_size")
    common.add_threads_flag(parser)


def add_parity_args(p):
    p.add_argument("--seeds", type=int, nargs="+", default=[2020])
    p.add_argument("--models", nargs="+", default=[BASELINE, OURS],
                   help="first is the baseline the gap is measured against")
    add_backbone_args(p)
    p.add_argument("--epochs", type=int, default=400)
    p.add_argument("--eval-step", type=int, default=5)
    p.add_argument("--stopping-step", type=int, default=10)
    p.add_argument("--tolerance", type=float, default=0.02,
                   help="pass if |relative test NDCG@20 gap| <= this")
    p.add_argument("--cache-dir", default="bench/.work/dense_parity",
                   help="finished runs, one JSON each, and their checkpoints")
    p.add_argument("--fresh", action="store_true", help="rerun even if a cached result exists")
    p.add_argument("--report-only", action="store_true",
                   help="no training: build the table from cached runs only")
    p.add_argument("--out", default="bench/results/dense_parity",
                   help="output path without extension (.md and .csv are written)")


def add_epoch_time_args(p):
    p.add_argument("--seed", type=int, default=2020)
    add_backbone_args(p)
    p.add_argument("--warmup", type=int, default=1, help="untimed epochs per model")
    p.add_argument("--timed-epochs", type=int, default=5, help="timed epochs per model")
    p.add_argument("--eval-repeats", type=int, default=3,
                   help="timed full-sort evaluation passes per model (after 1 untimed)")
    p.add_argument("--threshold", type=float, default=0.8, help="pass if ratio <= this")
    p.add_argument("--memory", dest="memory", action="store_true", default=True,
                   help="measure peak RSS per model in child processes")
    p.add_argument("--no-memory", dest="memory", action="store_false")
    p.add_argument("--out", default="bench/results/epoch_time",
                   help="output path without extension (.md and .csv are written)")
    p.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)


def parse_args(argv):
    """``parity`` is the command when the first argument names none."""
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help"):
        argv = ["parity", *argv]
    parser = common.subcommand_parser(
        MODULE, __doc__,
        {"parity": ("test-metric parity, trained to early stop (the default)", add_parity_args),
         "epoch-time": ("training-epoch and evaluation time side by side, peak memory",
                        add_epoch_time_args)},
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Without a COMMAND, the flags are parity's.")
    return parser.parse_args(argv)


def model_config(args, model, seed, **extra):
    """The config dict of ``model``: the backbone flags, ``extra``, and GCNPruneGAN's keys that
    make it dense LightGCN."""
    config = {"seed": seed, "embedding_size": args.embedding_size, "n_layers": args.n_layers,
              "reg_weight": args.reg_weight, "learning_rate": args.learning_rate,
              "train_batch_size": args.batch_size, **extra}
    if model == OURS:
        config.update({"layer_transform": "none", "prune_criterion": "none"})
    return config


def write_tables(out, text, rows, extra):
    """``out.md`` (``text``, also printed) and ``out.csv`` (``rows`` with the ``extra``
    columns)."""
    print(text)
    common.write_text(out + ".md", text)
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=(list(rows[0]) if rows else []) + list(extra))
    writer.writeheader()
    writer.writerows({**r, **extra} for r in rows)
    common.write_text(out + ".csv", buffer.getvalue())


def fmt(v, spec=".4f"):
    return "n/a" if v is None else format(v, spec)


# ------------------------------------------------------------------------------------ parity
def parity_config(args, model, seed):
    return model_config(args, model, seed, epochs=args.epochs, eval_step=args.eval_step,
                        stopping_step=args.stopping_step, show_progress=False)


def run_key(args, model, seed):
    """The cache file's name: model, dataset, seed and a digest of the config dict."""
    config = parity_config(args, model, seed)
    digest = hashlib.sha1(json.dumps([args.dataset, config], sort_keys=True).encode()).hexdigest()
    return f"{model}-{args.dataset}-seed{seed}-{digest[:10]}"


class EpochRecorder:
    """Wrap ``Trainer._train_epoch`` / ``_valid_epoch`` (class level) to log epochs and scores."""

    def __init__(self):
        self.train = []  # (epoch, seconds)
        self.valid = []  # (epoch, score, seconds)
        self._last_epoch = None

    def __enter__(self):
        from recbole.trainer.trainer import Trainer

        self._cls = Trainer
        self._orig_train, self._orig_valid = Trainer._train_epoch, Trainer._valid_epoch
        rec, orig_train, orig_valid = self, self._orig_train, self._orig_valid

        def _train_epoch(trainer, train_data, epoch_idx, *a, **kw):
            t0 = time.perf_counter()
            out = orig_train(trainer, train_data, epoch_idx, *a, **kw)
            rec.train.append((int(epoch_idx), time.perf_counter() - t0))
            rec._last_epoch = int(epoch_idx)
            return out

        def _valid_epoch(trainer, valid_data, *a, **kw):
            t0 = time.perf_counter()
            score, result = orig_valid(trainer, valid_data, *a, **kw)
            rec.valid.append((rec._last_epoch, float(score), time.perf_counter() - t0))
            return score, result

        Trainer._train_epoch, Trainer._valid_epoch = _train_epoch, _valid_epoch
        return self

    def __exit__(self, *exc):
        self._cls._train_epoch, self._cls._valid_epoch = self._orig_train, self._orig_valid
        return False

    def best_epoch(self, bigger):
        """The epoch of the first best validation score, as RecBole's early stopping picks it."""
        if not self.valid:
            return None
        return (max if bigger else min)(self.valid, key=lambda v: v[1])[0]


def run_one(args, model, seed, command):
    """Train, validate and test one (model, seed); the record the cache keeps."""
    import torch

    from recbole_gcnprune.quick_start import run_recbole_prune

    config = {**parity_config(args, model, seed),
              "checkpoint_dir": os.path.join(args.cache_dir, "saved")}
    t0 = time.perf_counter()
    with EpochRecorder() as rec:
        result = run_recbole_prune(model=model, dataset=args.dataset, config_dict=config)
    return {
        "model": model, "seed": seed, "dataset": args.dataset,
        "config_dict": parity_config(args, model, seed),
        "test_result": {k: float(v) for k, v in result["test_result"].items()},
        "best_valid_score": float(result["best_valid_score"]),
        "best_valid_result": {k: float(v) for k, v in (result["best_valid_result"] or {}).items()},
        "best_epoch": rec.best_epoch(bool(result["valid_score_bigger"])),
        "epochs_trained": len(rec.train),
        "train_epoch_median_s": statistics.median(t for _, t in rec.train) if rec.train else None,
        "valid_curve": rec.valid,
        "wall_s": time.perf_counter() - t0,
        "finished": common.now().isoformat(timespec="seconds"),
        "host_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "command": command, "versions": common.versions(),
    }


def cached_or_run(args, model, seed, command):
    """The cached run of (model, seed), else a fresh one (cached); None under --report-only."""
    path = os.path.join(args.cache_dir, run_key(args, model, seed) + ".json")
    if os.path.isfile(path) and not args.fresh:
        print(f"[dense_parity] cached: {model} seed {seed} ({common.shown_path(path)})",
              flush=True)
        return common.read_json(path)
    if args.report_only:
        print(f"[dense_parity] missing (report-only): {model} seed {seed}", flush=True)
        return None
    print(f"[dense_parity] running: {model} seed {seed}", flush=True)
    run = run_one(args, model, seed, command)
    common.write_json(path, run)
    print(f"[dense_parity] stored {common.shown_path(path)}", flush=True)
    return run


def relative_gap(value, base):
    return (value - base) / base


def seed_rows(args, runs):
    """One row per finished (seed, model), its NDCG@20 gap to the baseline of the same seed."""
    rows = []
    for seed in args.seeds:
        base = runs.get((args.models[0], seed))
        for model in args.models:
            r = runs.get((model, seed))
            if r is None:
                continue
            gap = (None if base is None or model == args.models[0] else
                   relative_gap(r["test_result"]["ndcg@20"], base["test_result"]["ndcg@20"]))
            rows.append({
                "model": model, "seed": seed,
                **{m: r["test_result"][m] for m in METRICS},
                "best_valid_ndcg@20": r["best_valid_score"],
                "rel_gap_ndcg@20": gap,
                "best_epoch": r["best_epoch"], "epochs_trained": r["epochs_trained"],
                "early_stopped": r["epochs_trained"] < r["config_dict"]["epochs"],
                "train_epoch_median_s": r["train_epoch_median_s"], "wall_s": r["wall_s"],
                "source": r["versions"]["recbole_gcnprune"], "finished": r["finished"],
                "run_command": common.relative_command(r.get("command", "n/a")),
            })
    return rows


def mean_rows(args, runs):
    """With several seeds: each model's mean metrics and the gap of its mean to the baseline's."""
    if len(args.seeds) < 2:
        return []
    means = []
    for model in args.models:
        done = [s for s in args.seeds if (model, s) in runs]
        if done:
            means.append({"model": model, "n": len(done),
                          **{m: statistics.mean(runs[model, s]["test_result"][m] for s in done)
                             for m in METRICS}})
    base = next((m for m in means if m["model"] == args.models[0]), None)
    for m in means:
        m["rel_gap_ndcg@20"] = (None if base is None or m is base
                                else relative_gap(m["ndcg@20"], base["ndcg@20"]))
    return means


def parity_verdict(rows, means, tolerance):
    """PASS when every gap (of the means, with several seeds) is within ``tolerance``."""
    gaps = [r["rel_gap_ndcg@20"] for r in (means or rows) if r["rel_gap_ndcg@20"] is not None]
    if not gaps:
        return "n/a (runs missing)"
    return "PASS" if all(abs(g) <= tolerance for g in gaps) else "FAIL"


def parity_header(args, command, started, runs, means):
    """The parity table's head: command, date, host, versions, settings, acceptance."""
    any_run = next(iter(runs.values()), None)
    vers = any_run["versions"] if any_run else common.versions()
    shared = parity_config(args, "", args.seeds[0])  # the settings every model shares
    settings = ", ".join(f"{k}={v}" for k, v in shared.items() if k != "seed")
    return [
        "# Dense parity: GCNPruneGAN vs RecBole LightGCN (test set, full sort)", "",
        f"- command: `{command}`",
        f"- date: {started.isoformat(timespec='seconds')} (each run's finish time in the CSV)",
        f"- host: {common.host('cpu', threads_set=bool(args.threads))}",
        "- versions: " + common.versions_text(vers),
        (f"- settings (all models): dataset={args.dataset}, seeds={args.seeds}, {settings}; "
         "plus overall.yaml (RS 0.8/0.1/0.1 split by user, full ranking, valid_metric NDCG@20); "
         f"{OURS} adds layer_transform=none, prune_criterion=none"),
        f"- gap = ({OURS} - {args.models[0]}) / {args.models[0]} on test NDCG@20; "
        f"acceptance |gap| <= {args.tolerance:.0%}" + (" on the mean over seeds" if means else ""),
    ]


def parity_table(args, command, started, runs, rows, means, verdict):
    lines = parity_header(args, command, started, runs, means) + [
        "",
        ("| model | seed | best epoch | epochs trained | early stop? | test NDCG@10 | "
         "test NDCG@20 | test Recall@20 | rel. gap NDCG@20 | s/epoch (median) | wall (s) |"),
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['seed']} | {fmt(r['best_epoch'], 'd')} | "
            f"{r['epochs_trained']} | {'yes' if r['early_stopped'] else 'no (epoch cap)'} | "
            f"{r['ndcg@10']:.4f} | {r['ndcg@20']:.4f} | "
            f"{r['recall@20']:.4f} | {fmt(r['rel_gap_ndcg@20'], '+.2%')} | "
            f"{fmt(r['train_epoch_median_s'], '.2f')} | {r['wall_s']:.0f} |")
    if means:
        lines += ["", ("| model | seeds | mean NDCG@10 | mean NDCG@20 | mean Recall@20 | "
                       "rel. gap NDCG@20 |"), "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {m['model']} | {m['n']} | {m['ndcg@10']:.4f} | {m['ndcg@20']:.4f} | "
                  f"{m['recall@20']:.4f} | {fmt(m['rel_gap_ndcg@20'], '+.2%')} |" for m in means]
    lines += ["", f"**Verdict: {verdict}** (tolerance {args.tolerance:.0%} relative).", "",
              ("Best epoch = the (0-based) epoch of the best validation NDCG@20, whose checkpoint "
               "is reloaded for the test. s/epoch and wall (data loading, validation and test "
               "included) are for information only: runs may have run at different times or "
               "concurrently on a shared machine; `python -m bench.dense_parity epoch-time` is "
               "the side-by-side speed comparison.")]
    run_commands = sorted({r["run_command"] for r in rows})
    lines += ["", "Runs were trained by: " + "; ".join(f"`{c}`" for c in run_commands)
              + " (this table is rebuilt from their cached JSON)."]
    sources = sorted({r["source"] for r in rows})
    if len(sources) > 1:
        lines.append(f"WARNING: cached runs come from different sources: {sources}")
    return "\n".join(lines) + "\n"


def parity(args, command):
    """Run or read every (seed, model), write the tables; exit code 0 PASS, 1 FAIL, 2 n/a."""
    common.set_threads(args.threads)
    started = common.now()
    runs = {}
    for seed in args.seeds:
        for model in args.models:
            run = cached_or_run(args, model, seed, command)
            if run is not None:
                runs[model, seed] = run
    rows, means = seed_rows(args, runs), mean_rows(args, runs)
    verdict = parity_verdict(rows, means, args.tolerance)
    write_tables(args.out, parity_table(args, command, started, runs, rows, means, verdict),
                 rows, {"command": command})
    return {"PASS": 0, "FAIL": 1}.get(verdict, 2)


# -------------------------------------------------------------------------------- epoch time
class Built(NamedTuple):
    config: object
    model: object
    trainer: object
    train: object
    valid: object


def build(args, model):
    """``model``'s config, network, trainer and train/valid loaders, as run_recbole_prune
    builds them."""
    from recbole_gcnprune.config import Config
    from recbole_gcnprune.quick_start import build_model_and_trainer, load_data

    config = Config(model, args.dataset, None,
                    model_config(args, model, args.seed, show_progress=False, state="WARNING"))
    _, (train, valid, _test) = load_data(config)
    net, trainer = build_model_and_trainer(config, train)
    trainer.eval_collector.data_collect(train)
    return Built(config, net, trainer, train, valid)


def train_fingerprint(train_data):
    """SHA-1 (12 digits) of the training split's user and item ids."""
    ds = train_data._dataset
    h = hashlib.sha1()
    for field in (ds.uid_field, ds.iid_field):
        h.update(ds.inter_feat[field].numpy().tobytes())
    return h.hexdigest()[:12]


def memory_child(args):
    """In a child process: build one model, then one train epoch and one evaluation, each with
    the peak RSS (VmHWM) reset just before it; print JSON in MiB."""
    import gc

    from recbole_gcnprune.measure import drop_cached_embeddings

    built = build(args, args.memory_child)
    gc.collect()
    rss_build = common.proc_status_bytes("VmRSS") / MIB
    resettable = common.reset_peak_rss()
    built.trainer._train_epoch(built.train, 0)
    peak_train = common.proc_status_bytes("VmHWM") / MIB
    gc.collect()
    common.reset_peak_rss()
    drop_cached_embeddings(built.model)
    built.trainer.evaluate(built.valid, load_best_model=False)
    peak_eval = common.proc_status_bytes("VmHWM") / MIB
    print(json.dumps({"model": args.memory_child, "rss_build": rss_build,
                      "peak_train": peak_train, "peak_eval": peak_eval,
                      "resettable": resettable}))


def measure_memory(args, model):
    """:func:`memory_child`'s readings for ``model``, in a fresh process."""
    argv = ["epoch-time", "--memory-child", model, "--dataset", args.dataset,
            "--seed", str(args.seed), "--embedding-size", str(args.embedding_size),
            "--n-layers", str(args.n_layers), "--reg-weight", repr(args.reg_weight),
            "--learning-rate", repr(args.learning_rate), "--batch-size", str(args.batch_size)]
    argv += ["--threads", str(args.threads)] if args.threads else []
    out = common.run_module(MODULE, argv, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def timed(fn, *args):
    """``(wall seconds, process CPU seconds)`` of ``fn(*args)``."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - w0, time.process_time() - c0


def alternating_times(models, warmup, timed_rounds, step, what):
    """``({model: wall seconds}, {model: CPU seconds})`` of ``step(model, round)`` (which
    returns both): one call per model a round, A,B in even rounds and B,A in odd ones; the first
    ``warmup`` rounds are not kept."""
    wall, cpu = {m: [] for m in models}, {m: [] for m in models}
    for r in range(warmup + timed_rounds):
        for m in (models if r % 2 == 0 else models[::-1]):
            w, c = step(m, r)
            if r >= warmup:
                wall[m].append(w)
                cpu[m].append(c)
            print(f"  {what:<5} {'warm-up' if r < warmup else 'timed  '} {m:<12} "
                  f"{w:7.3f} s wall {c:7.3f} s cpu", flush=True)
    return wall, cpu


def epoch_rows(models, train, evaluation, memory):
    """One CSV row per model from the timings and the memory readings."""
    med = statistics.median
    rows = []
    for m in models:
        row = {"model": m,
               "train_epoch_median_s": med(train[0][m]),
               "train_epoch_cpu_median_s": med(train[1][m]),
               "train_epoch_min_s": min(train[0][m]), "train_epoch_max_s": max(train[0][m]),
               "eval_pass_median_s": med(evaluation[0][m]),
               "eval_pass_cpu_median_s": med(evaluation[1][m]),
               "train_epochs_s": " ".join(f"{x:.3f}" for x in train[0][m])}
        if memory:
            row["rss_after_build_mib"] = memory[m]["rss_build"]
            row["peak_rss_train_epoch_mib"] = memory[m]["peak_train"]
            row["peak_rss_eval_pass_mib"] = memory[m]["peak_eval"]
        rows.append(row)
    return rows


def ratio(by, key):
    """GCNPruneGAN's ``key`` over LightGCN's."""
    return by[OURS][key] / by[BASELINE][key]


def epoch_header(args, command, context):
    """The epoch-time table's head; ``context``: started, load_before, load_after, device,
    n_batches, fingerprint."""
    return [
        "# Training-epoch time: dense GCNPruneGAN vs RecBole LightGCN", "",
        f"- command: `{command}`",
        f"- date: {context['started'].isoformat(timespec='seconds')}",
        (f"- host: {common.host(context['device'], threads_set=bool(args.threads))}; "
         f"load avg (1/5/15 min) before {context['load_before']}, after {context['load_after']}"),
        "- versions: " + common.versions_text(common.versions()),
        (f"- settings (both models): dataset={args.dataset}, seed={args.seed}, "
         f"embedding_size={args.embedding_size}, n_layers={args.n_layers}, "
         f"reg_weight={args.reg_weight:g}, learning_rate={args.learning_rate:g}, "
         f"train_batch_size={args.batch_size} ({context['n_batches']} batches/epoch); "
         "GCNPruneGAN: layer_transform=none, prune_criterion=none; identical train split "
         f"(sha1 {context['fingerprint']})"),
        (f"- protocol: {args.warmup} untimed warm-up + {args.timed_epochs} timed "
         "`trainer._train_epoch` calls per model, interleaved (A,B then B,A ...); then 1 untimed "
         f"+ {args.eval_repeats} timed full-sort `trainer.evaluate(valid_data)` passes per model, "
         "cache cleared before each. Wall = time.perf_counter, cpu = time.process_time."),
    ]


def epoch_table(args, command, context, rows, memory):
    by = {r["model"]: r for r in rows}
    wall_ratio = ratio(by, "train_epoch_median_s")
    lines = epoch_header(args, command, context) + [
        "",
        "| model | train epoch median (s) | min / max (s) | cpu median (s) | "
        "full-sort eval median (s) | eval cpu median (s) |"
        + (" RSS after build (MiB) | peak RSS, train epoch (MiB) | peak RSS, eval pass (MiB) |"
           if memory else ""),
        "|---|---:|---:|---:|---:|---:|" + ("---:|---:|---:|" if memory else ""),
    ]
    for r in rows:
        line = (f"| {r['model']} | {r['train_epoch_median_s']:.3f} | "
                f"{r['train_epoch_min_s']:.3f} / {r['train_epoch_max_s']:.3f} | "
                f"{r['train_epoch_cpu_median_s']:.3f} | {r['eval_pass_median_s']:.3f} | "
                f"{r['eval_pass_cpu_median_s']:.3f} |")
        if memory:
            line += (f" {r['rss_after_build_mib']:.0f} | {r['peak_rss_train_epoch_mib']:.0f} | "
                     f"{r['peak_rss_eval_pass_mib']:.0f} |")
        lines.append(line)
    lines += [
        "",
        (f"**Ratio GCNPruneGAN / LightGCN, median train epoch (wall): {wall_ratio:.3f}** "
         f"(threshold <= {args.threshold}: "
         f"{'PASS' if wall_ratio <= args.threshold else 'FAIL'}); "
         f"cpu-time ratio {ratio(by, 'train_epoch_cpu_median_s'):.3f}; "
         f"full-sort eval ratio {ratio(by, 'eval_pass_median_s'):.3f}."),
        "",
        "Per-epoch wall times (s): "
        + "; ".join(f"{r['model']}: {r['train_epochs_s']}" for r in rows),
    ]
    if memory:
        lines += [
            "",
            "Memory: each model in a fresh child process (same settings): resident set after "
            "building data + model, then the peak RSS (VmHWM, reset via /proc/self/clear_refs "
            "just before) during one training epoch and during one full-sort evaluation pass. "
            "Whole-process figures (Python, torch, dataset included), so compare the columns, "
            "not absolute sizes."
            + ("" if all(m["resettable"] for m in memory.values())
               else " WARNING: VmHWM could not be reset here; peaks include data loading."),
        ]
    return "\n".join(lines) + "\n"


def epoch_time(args, command):
    """Time both models side by side, write the tables; exit code 0 when the ratio passes."""
    common.set_threads(args.threads)
    if args.memory_child:
        memory_child(args)
        return 0
    from recbole_gcnprune.measure import drop_cached_embeddings

    models = (BASELINE, OURS)
    context = {"started": common.now(), "load_before": common.load_avg()}
    built = {m: build(args, m) for m in models}
    fingerprints = {m: train_fingerprint(built[m].train) for m in models}
    if len(set(fingerprints.values())) != 1:
        raise SystemExit(f"train splits differ between models: {fingerprints}")

    def train_step(m, r):
        return timed(built[m].trainer._train_epoch, built[m].train, r)

    def eval_step(m, _r):
        drop_cached_embeddings(built[m].model)
        return timed(built[m].trainer.evaluate, built[m].valid, False)

    train = alternating_times(models, args.warmup, args.timed_epochs, train_step, "train")
    evaluation = alternating_times(models, 1, args.eval_repeats, eval_step, "eval")
    context.update(load_after=common.load_avg(), device=str(built[OURS].config["device"]),
                   n_batches=len(built[OURS].train), fingerprint=fingerprints[OURS])
    memory = {m: measure_memory(args, m) for m in models} if args.memory else {}
    rows = epoch_rows(models, train, evaluation, memory)
    text = epoch_table(args, command, context, rows, memory)
    for row in rows:
        row["ratio_vs_lightgcn"] = row["train_epoch_median_s"] / rows[0]["train_epoch_median_s"]
    write_tables(args.out, text, rows, {"date": context["started"].isoformat(timespec="seconds"),
                                        "command": command})
    return 0 if rows[1]["ratio_vs_lightgcn"] <= args.threshold else 1


def main(argv=None):
    return common.run_subcommand(MODULE, parse_args,
                                 {"parity": parity, "epoch-time": epoch_time}, argv)


if __name__ == "__main__":
    sys.exit(main())
