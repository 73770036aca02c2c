"""Training-epoch time of dense GCNPruneGAN vs RecBole's LightGCN, side by side in one process.

Acceptance: ratio (GCNPruneGAN / LightGCN) of the median training-epoch wall time <= 0.8, median
of 5 timed epochs each, same data, batch size and width.

Both models are built from the same settings (``--dataset``, seed, embedding_size, n_layers,
reg_weight, learning_rate, train_batch_size) through the plugin's Config / load_data /
build_model_and_trainer, exactly as ``run_recbole_prune`` builds them. Epochs are interleaved
(round r runs A,B when r is even and B,A when odd, so slow drift of a shared machine's load hits
both equally); each model gets ``--warmup`` untimed epochs first. ``trainer._train_epoch`` is timed
(wall and process CPU time), then one full-sort evaluation pass (``trainer.evaluate`` on the
validation set, embeddings recomputed) is timed ``--eval-repeats`` times per model, interleaved too.

Peak memory (``--memory``, on by default): each model trains one epoch and evaluates once in a
fresh child process; the table reports its RSS after building, and its peak RSS (VmHWM, reset just
before each step) during the epoch and during the evaluation pass. Linux only.

Usage:
    python bench/epoch_time.py                  # writes bench/results/epoch_time.{md,csv}
    python bench/epoch_time.py --timed-epochs 9 --no-memory
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import common

MODELS = ("LightGCN", "GCNPruneGAN")  # A (baseline), B (ours)
OURS, BASELINE = "GCNPruneGAN", "LightGCN"
MIB = 2**20


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--seed", type=int, default=2020)
    common.add_backbone_args(p)
    p.add_argument("--warmup", type=int, default=1, help="untimed epochs per model")
    p.add_argument("--timed-epochs", type=int, default=5, help="timed epochs per model")
    p.add_argument("--eval-repeats", type=int, default=3,
                   help="timed full-sort evaluation passes per model (after 1 untimed)")
    p.add_argument("--threshold", type=float, default=0.8, help="pass if ratio <= this")
    p.add_argument("--memory", dest="memory", action="store_true", default=True,
                   help="measure peak RSS per model in child processes")
    p.add_argument("--no-memory", dest="memory", action="store_false")
    common.add_threads_flag(p)
    p.add_argument("--out", default=os.path.join(common.RESULTS, "epoch_time"),
                   help="output path without extension (.md and .csv are written)")
    p.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def config_dict(args, model):
    d = {
        "seed": args.seed,
        **common.backbone_config(args),
        "show_progress": False,
        "state": "WARNING",
    }
    if model == OURS:
        d.update({"layer_transform": "none", "prune_criterion": "none"})
    return d


def build(args, model):
    """(config, model, trainer, train_data, valid_data) as run_recbole_prune builds them."""

    from recbole_gcnprune.config import Config
    from recbole_gcnprune.quick_start import build_model_and_trainer, load_data

    config = Config(model, args.dataset, None, config_dict(args, model))
    _, (train_data, valid_data, _test) = load_data(config)
    net, trainer = build_model_and_trainer(config, train_data)
    trainer.eval_collector.data_collect(train_data)
    return config, net, trainer, train_data, valid_data


def train_fingerprint(train_data):
    import hashlib

    ds = train_data._dataset
    h = hashlib.sha1()
    for field in (ds.uid_field, ds.iid_field):
        h.update(ds.inter_feat[field].numpy().tobytes())
    return h.hexdigest()[:12]


def memory_child(args):
    """Child process: build one model, then one train epoch and one eval, each with the peak RSS
    (VmHWM) reset just before it; print JSON in MiB."""
    import gc

    from recbole_gcnprune.measure import drop_cached_embeddings

    model = args.memory_child
    _, net, trainer, train_data, valid_data = build(args, model)
    gc.collect()
    rss_build = common.proc_status_bytes("VmRSS") / MIB
    resettable = common.reset_peak_rss()
    trainer._train_epoch(train_data, 0)
    peak_train = common.proc_status_bytes("VmHWM") / MIB
    gc.collect()
    common.reset_peak_rss()
    drop_cached_embeddings(net)
    trainer.evaluate(valid_data, load_best_model=False)
    peak_eval = common.proc_status_bytes("VmHWM") / MIB
    print(json.dumps({"model": model, "rss_build": rss_build, "peak_train": peak_train,
                      "peak_eval": peak_eval, "resettable": resettable}))


def measure_memory(args, model):
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", model,
           "--dataset", args.dataset, "--seed", str(args.seed),
           "--embedding-size", str(args.embedding_size), "--n-layers", str(args.n_layers),
           "--reg-weight", repr(args.reg_weight), "--learning-rate", repr(args.learning_rate),
           "--batch-size", str(args.batch_size)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    out = subprocess.run(cmd, cwd=common.ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def timed(fn, *args):
    w0, c0 = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - w0, time.process_time() - c0


def main(argv=None):
    args, command = common.parse_own_args(parse_args, __file__, argv)
    common.set_threads(args.threads)

    if args.memory_child:
        memory_child(args)
        return 0

    from recbole_gcnprune.measure import drop_cached_embeddings

    started = common.now()
    load_before = common.load_avg()
    built = {m: build(args, m) for m in MODELS}
    fingerprints = {m: train_fingerprint(built[m][3]) for m in MODELS}
    if len(set(fingerprints.values())) != 1:
        raise SystemExit(f"train splits differ between models: {fingerprints}")
    device = str(built[OURS][0]["device"])
    n_batches = len(built[OURS][3])

    train_wall = {m: [] for m in MODELS}
    train_cpu = {m: [] for m in MODELS}
    eval_wall = {m: [] for m in MODELS}
    eval_cpu = {m: [] for m in MODELS}

    for epoch in range(args.warmup + args.timed_epochs):  # one epoch of each model per round
        r = epoch
        order = MODELS if r % 2 == 0 else MODELS[::-1]
        for m in order:
            _, _, trainer, train_data, _ = built[m]
            w, c = timed(trainer._train_epoch, train_data, epoch)
            if r >= args.warmup:
                train_wall[m].append(w)
                train_cpu[m].append(c)
            print(f"  train {'warm-up' if r < args.warmup else 'timed  '} {m:<12} "
                  f"{w:7.3f} s wall {c:7.3f} s cpu", flush=True)
    for r in range(1 + args.eval_repeats):
        order = MODELS if r % 2 == 0 else MODELS[::-1]
        for m in order:
            _, net, trainer, _, valid_data = built[m]
            drop_cached_embeddings(net)
            w, c = timed(trainer.evaluate, valid_data, False)
            if r >= 1:
                eval_wall[m].append(w)
                eval_cpu[m].append(c)
            print(f"  eval  {'warm-up' if r < 1 else 'timed  '} {m:<12} "
                  f"{w:7.3f} s wall {c:7.3f} s cpu", flush=True)
    load_after = common.load_avg()
    memory = {m: measure_memory(args, m) for m in MODELS} if args.memory else {}

    med = statistics.median
    rows = []
    for m in MODELS:
        row = {
            "model": m,
            "train_epoch_median_s": med(train_wall[m]),
            "train_epoch_cpu_median_s": med(train_cpu[m]),
            "train_epoch_min_s": min(train_wall[m]),
            "train_epoch_max_s": max(train_wall[m]),
            "eval_pass_median_s": med(eval_wall[m]),
            "eval_pass_cpu_median_s": med(eval_cpu[m]),
            "train_epochs_s": " ".join(f"{x:.3f}" for x in train_wall[m]),
        }
        if memory:
            row["rss_after_build_mib"] = memory[m]["rss_build"]
            row["peak_rss_train_epoch_mib"] = memory[m]["peak_train"]
            row["peak_rss_eval_pass_mib"] = memory[m]["peak_eval"]
        rows.append(row)
    by = {r["model"]: r for r in rows}
    ratio = by[OURS]["train_epoch_median_s"] / by[BASELINE]["train_epoch_median_s"]
    ratio_cpu = by[OURS]["train_epoch_cpu_median_s"] / by[BASELINE]["train_epoch_cpu_median_s"]
    eval_ratio = by[OURS]["eval_pass_median_s"] / by[BASELINE]["eval_pass_median_s"]
    passed = ratio <= args.threshold

    vers = common.versions()
    lines = [
        "# Training-epoch time: dense GCNPruneGAN vs RecBole LightGCN",
        "",
        f"- command: `{command}`",
        f"- date: {started.isoformat(timespec='seconds')}",
        (f"- host: {common.host(device, threads_set=bool(args.threads))}; "
         f"load avg (1/5/15 min) before {load_before}, after {load_after}"),
        "- versions: " + common.versions_text(vers),
        (f"- settings (both models): dataset={args.dataset}, seed={args.seed}, "
        f"embedding_size={args.embedding_size}, n_layers={args.n_layers}, "
        f"reg_weight={args.reg_weight:g}, learning_rate={args.learning_rate:g}, "
        f"train_batch_size={args.batch_size} ({n_batches} batches/epoch); GCNPruneGAN: "
        f"layer_transform=none, prune_criterion=none; identical train split "
        f"(sha1 {fingerprints[OURS]})"),
        (f"- protocol: {args.warmup} untimed warm-up + {args.timed_epochs} timed "
        f"`trainer._train_epoch` calls per model, interleaved (A,B then B,A ...); then 1 untimed + "
        f"{args.eval_repeats} timed full-sort `trainer.evaluate(valid_data)` passes per model, "
        "cache cleared before each. Wall = time.perf_counter, cpu = time.process_time."),
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
        (f"**Ratio GCNPruneGAN / LightGCN, median train epoch (wall): {ratio:.3f}** "
        f"(threshold <= {args.threshold}: {'PASS' if passed else 'FAIL'}); "
        f"cpu-time ratio {ratio_cpu:.3f}; full-sort eval ratio {eval_ratio:.3f}."),
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
            + ("" if all(memory[m]["resettable"] for m in MODELS)
               else " WARNING: VmHWM could not be reset here; peaks include data loading."),
        ]
    text = "\n".join(lines) + "\n"
    print(text)

    common.write_text(args.out + ".md", text)
    common.write_csv(
        args.out + ".csv", list(rows[0]) + ["ratio_vs_lightgcn", "date", "command"],
        [{**r, "ratio_vs_lightgcn": r["train_epoch_median_s"] / by[BASELINE]["train_epoch_median_s"],
          "date": started.isoformat(timespec="seconds"), "command": command} for r in rows])
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
