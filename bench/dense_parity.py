"""Dense parity: GCNPruneGAN (layer_transform none, prune_criterion none) vs RecBole's LightGCN.

Acceptance: with LightGCN's hyperparameters (64 dims, 3 layers, same seed, same split), dense
GCNPruneGAN reaches test NDCG@20 within 2% (relative) of RecBole's LightGCN on ml-100k, both
trained to early stop.

Each (model, seed) is one ``run_recbole_prune(model, dataset, config_dict=...)`` call with the same
config dict (only GCNPruneGAN's own keys added). Finished runs are stored as JSON under
``--cache-dir`` (written atomically) and skipped on rerun, so an interrupted benchmark resumes
where it stopped; ``--fresh`` ignores the cache, ``--report-only`` only rebuilds the table.

The best epoch, the validation curve and per-epoch train time are recorded by wrapping RecBole's
``Trainer._train_epoch`` / ``Trainer._valid_epoch`` for the duration of a run.

Usage:
    python bench/dense_parity.py                      # seed 2020; bench/results/dense_parity.{md,csv}
    python bench/dense_parity.py --seeds 2020 2021 2022
"""

import argparse
import hashlib
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import common

OURS, BASELINE = "GCNPruneGAN", "LightGCN"
METRICS = ("ndcg@10", "ndcg@20", "recall@20")


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[2020])
    p.add_argument("--models", nargs="+", default=[BASELINE, OURS],
                   help="first is the baseline the gap is measured against")
    p.add_argument("--dataset", default="ml-100k")
    common.add_backbone_args(p)
    p.add_argument("--epochs", type=int, default=400)
    p.add_argument("--eval-step", type=int, default=5)
    p.add_argument("--stopping-step", type=int, default=10)
    p.add_argument("--tolerance", type=float, default=0.02,
                   help="pass if |relative test NDCG@20 gap| <= this")
    p.add_argument("--cache-dir", default=os.path.join(common.RESULTS, ".cache", "dense_parity"))
    p.add_argument("--fresh", action="store_true", help="rerun even if a cached result exists")
    p.add_argument("--report-only", action="store_true",
                   help="no training: build the table from cached runs only")
    common.add_threads_flag(p)
    p.add_argument("--out", default=os.path.join(common.RESULTS, "dense_parity"),
                   help="output path without extension (.md and .csv are written)")
    return p.parse_args(argv)


def config_dict(args, model, seed):
    d = {
        "seed": seed,
        **common.backbone_config(args),
        "epochs": args.epochs,
        "eval_step": args.eval_step,
        "stopping_step": args.stopping_step,
        "show_progress": False,
    }
    if model == OURS:
        d.update({"layer_transform": "none", "prune_criterion": "none"})
    return d


def run_key(args, model, seed):
    cd = config_dict(args, model, seed)
    digest = hashlib.sha1(json.dumps([args.dataset, cd], sort_keys=True).encode()).hexdigest()
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


def run_one(args, model, seed, command):
    from recbole_gcnprune.quick_start import run_recbole_prune

    cd = config_dict(args, model, seed)
    cd["checkpoint_dir"] = os.path.join(args.cache_dir, "saved")
    t0 = time.perf_counter()
    with EpochRecorder() as rec:
        result = run_recbole_prune(model=model, dataset=args.dataset, config_dict=cd)
    wall = time.perf_counter() - t0
    bigger = bool(result["valid_score_bigger"])
    best_epoch = None
    if rec.valid:
        pick = max if bigger else min
        best = pick(rec.valid, key=lambda v: v[1])  # first best, as RecBole's early_stopping
        best_epoch = best[0]
    return {
        "model": model,
        "seed": seed,
        "dataset": args.dataset,
        "config_dict": config_dict(args, model, seed),
        "test_result": {k: float(v) for k, v in result["test_result"].items()},
        "best_valid_score": float(result["best_valid_score"]),
        "best_valid_result": {k: float(v) for k, v in (result["best_valid_result"] or {}).items()},
        "best_epoch": best_epoch,
        "epochs_trained": len(rec.train),
        "train_epoch_median_s": statistics.median(t for _, t in rec.train) if rec.train else None,
        "valid_curve": rec.valid,
        "wall_s": wall,
        "finished": common.now().isoformat(timespec="seconds"),
        "host_cpus": os.cpu_count(),
        "torch_threads": __import__("torch").get_num_threads(),
        "command": command,
        "cwd": os.getcwd(),
        "versions": common.versions(),
    }


def fmt(v, spec=".4f"):
    return "n/a" if v is None else format(v, spec)


def main(argv=None):
    args, command = common.parse_own_args(parse_args, __file__, argv)
    common.set_threads(args.threads)

    started = common.now()
    baseline = args.models[0]
    runs = {}
    for seed in args.seeds:
        for model in args.models:
            path = os.path.join(args.cache_dir, run_key(args, model, seed) + ".json")
            if os.path.isfile(path) and not args.fresh:
                with open(path, encoding="utf-8") as f:
                    runs[model, seed] = json.load(f)
                print(f"[dense_parity] cached: {model} seed {seed} ({path})", flush=True)
                continue
            if args.report_only:
                print(f"[dense_parity] missing (report-only): {model} seed {seed}", flush=True)
                continue
            print(f"[dense_parity] running: {model} seed {seed}", flush=True)
            runs[model, seed] = run_one(args, model, seed, command)
            common.write_json(path, runs[model, seed])
            print(f"[dense_parity] stored {path}", flush=True)

    rows = []
    for seed in args.seeds:
        base = runs.get((baseline, seed))
        for model in args.models:
            r = runs.get((model, seed))
            if r is None:
                continue
            ndcg20 = r["test_result"]["ndcg@20"]
            gap = None
            if base is not None and model != baseline:
                gap = (ndcg20 - base["test_result"]["ndcg@20"]) / base["test_result"]["ndcg@20"]
            rows.append({
                "model": model, "seed": seed,
                **{m: r["test_result"][m] for m in METRICS},
                "best_valid_ndcg@20": r["best_valid_score"],
                "rel_gap_ndcg@20": gap,
                "best_epoch": r["best_epoch"], "epochs_trained": r["epochs_trained"],
                "early_stopped": r["epochs_trained"] < r["config_dict"]["epochs"],
                "train_epoch_median_s": r["train_epoch_median_s"], "wall_s": r["wall_s"],
                "source": r["versions"]["recbole_gcnprune"], "finished": r["finished"],
                "run_command": r.get("command", "n/a"),
            })

    mean_rows = []
    if len(args.seeds) > 1:
        for model in args.models:
            seeds_done = [s for s in args.seeds if (model, s) in runs]
            if not seeds_done:
                continue
            mean = {m: statistics.mean(runs[model, s]["test_result"][m] for s in seeds_done)
                    for m in METRICS}
            mean_rows.append({"model": model, "n": len(seeds_done), **mean})
        base_mean = next((m for m in mean_rows if m["model"] == baseline), None)
        for m in mean_rows:
            m["rel_gap_ndcg@20"] = (None if base_mean is None or m is base_mean
                                    else (m["ndcg@20"] - base_mean["ndcg@20"]) / base_mean["ndcg@20"])

    gaps = [r["rel_gap_ndcg@20"] for r in rows if r["rel_gap_ndcg@20"] is not None]
    if mean_rows:
        gaps_for_verdict = [m["rel_gap_ndcg@20"] for m in mean_rows if m["rel_gap_ndcg@20"] is not None]
    else:
        gaps_for_verdict = gaps
    verdict = ("n/a (runs missing)" if not gaps_for_verdict else
               "PASS" if all(abs(g) <= args.tolerance for g in gaps_for_verdict) else "FAIL")

    any_run = next(iter(runs.values()), None)
    vers = any_run["versions"] if any_run else common.versions()
    cd = config_dict(args, "", args.seeds[0])  # the settings every model shares
    settings = ", ".join(f"{k}={v}" for k, v in cd.items() if k != "seed")
    lines = [
        "# Dense parity: GCNPruneGAN vs RecBole LightGCN (test set, full sort)",
        "",
        f"- command: `{command}`",
        f"- date: {started.isoformat(timespec='seconds')} (each run's finish time in the CSV)",
        f"- host: {common.host('cpu', threads_set=bool(args.threads))}",
        "- versions: " + common.versions_text(vers),
        (f"- settings (all models): dataset={args.dataset}, seeds={args.seeds}, {settings}; "
        "plus overall.yaml (RS 0.8/0.1/0.1 split by user, full ranking, valid_metric NDCG@20); "
        f"{OURS} adds layer_transform=none, prune_criterion=none"),
        f"- gap = ({OURS} - {baseline}) / {baseline} on test NDCG@20; "
        f"acceptance |gap| <= {args.tolerance:.0%}"
        + (" on the mean over seeds" if mean_rows else ""),
        "",
        ("| model | seed | best epoch | epochs trained | early stop? | test NDCG@10 | test NDCG@20 | "
        "test Recall@20 | rel. gap NDCG@20 | s/epoch (median) | wall (s) |"),
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['seed']} | {r['best_epoch'] if r['best_epoch'] is not None else 'n/a'} | "
            f"{r['epochs_trained']} | {'yes' if r['early_stopped'] else 'no (epoch cap)'} | "
            f"{r['ndcg@10']:.4f} | {r['ndcg@20']:.4f} | "
            f"{r['recall@20']:.4f} | {fmt(r['rel_gap_ndcg@20'], '+.2%')} | "
            f"{fmt(r['train_epoch_median_s'], '.2f')} | {r['wall_s']:.0f} |")
    if mean_rows:
        lines += ["", ("| model | seeds | mean NDCG@10 | mean NDCG@20 | mean Recall@20 | "
                  "rel. gap NDCG@20 |"), "|---|---:|---:|---:|---:|---:|"]
        for m in mean_rows:
            lines.append(f"| {m['model']} | {m['n']} | {m['ndcg@10']:.4f} | {m['ndcg@20']:.4f} | "
                         f"{m['recall@20']:.4f} | {fmt(m['rel_gap_ndcg@20'], '+.2%')} |")
    lines += ["", f"**Verdict: {verdict}** (tolerance {args.tolerance:.0%} relative).", "",
              ("Best epoch = the (0-based) epoch of the best validation NDCG@20, whose checkpoint "
              "is reloaded for the test. s/epoch and wall (data loading, validation and test "
              "included) are for information only: runs may have run at different times or "
              "concurrently on a shared machine; bench/epoch_time.py is the side-by-side speed "
              "comparison.")]
    run_commands = sorted({r["run_command"] for r in rows})
    lines += ["", "Runs were trained by: " + "; ".join(f"`{c}`" for c in run_commands)
              + " (this table is rebuilt from their cached JSON)."]
    sources = sorted({r["source"] for r in rows})
    if len(sources) > 1:
        lines.append(f"WARNING: cached runs come from different sources: {sources}")
    text = "\n".join(lines) + "\n"
    print(text)

    common.write_text(args.out + ".md", text)
    common.write_csv(args.out + ".csv", (list(rows[0]) if rows else []) + ["command"],
                     [{**r, "command": command} for r in rows])
    return {"PASS": 0, "FAIL": 1}.get(verdict, 2)


if __name__ == "__main__":
    sys.exit(main())
