"""Serving the dense teacher and the pruned models: bytes, quality and numpy speed of exports.

For each seed, the dense teacher and the ``--criteria`` rows that ``bench.prune_compare`` finished
in ``--work-dir`` (pass its flags) are exported (``recbole_gcnprune.serving.export``) as float32,
float16, int8 (per-row scales) and int8-channel (per-channel scales) into ``--export-dir``, and
each export is measured:

* served bytes (vectors and scales: the manifest's ``served_bytes``), as a share of the dense
  float32 export's;
* test NDCG@20 and Recall@20 computed from the export (``serving.verify``: RecBole's evaluator on
  its test split), as a share of the dense float32 export's; whether each float32 export is exact;
* with ``--rank R``, also the float32 and int8-channel exports at rank R (``export --rank``: the
  best rank-R approximation of the scores) of every model wider than R;
* the top-20 overlap (seen items excluded) with the same model's float32 export, every test user;
* recommendations per second: ``load(dir).recommend(users, k=20)`` (seen items not excluded) of
  the first 1,000 test users (cycled when fewer), numpy (and FAISS's flat index when installed);
  all exports of a seed timed in turn within each round, after one warm-up round, for at least
  ``--rounds`` rounds and ``--speed-seconds``; the median per export, and its ratio to the dense
  float32 export's median of the same rounds.

Cells are mean ± std over seeds. Exports and their checks are cached beside them, so a rerun times
again without exporting again.

    python -m bench.serving --dataset ml-100k --seeds 2020,2021,2022 --prune-ratios 0.75,0.9 \\
        --work-dir bench/.work/headline-ml
"""

import importlib.util
import os
import statistics
import sys
import time
from functools import partial

from bench import common
from bench.common import mean_std

MODULE = "bench.serving"
DENSE = "dense teacher"
DTYPES = ("float32", "float16", "int8", "int8-channel")
INT8 = ("int8", "int8-channel")
RANKED = ("float32", "int8-channel")  # the dtypes also exported at --rank
K = 20
BACKENDS = {"numpy": False, **({"faiss": True} if importlib.util.find_spec("faiss") else {})}
SPEEDS = (*BACKENDS, "scores")  # recommend() per backend; numpy's scores without the top-K


def parse_args(argv):
    p = common.argument_parser(MODULE, __doc__)
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--seeds", default="2020")
    p.add_argument("--split-seed", type=int, default=2020)
    p.add_argument("--prune-ratios", default="0.75,0.9")
    p.add_argument("--criteria", default="gan")
    p.add_argument("--config-files", nargs="*", default=None)
    p.add_argument("--set", nargs="*", default=[], help="extra config overrides key=value")
    p.add_argument("--work-dir", required=True, help="prune_compare's work dir with the rows")
    p.add_argument("--checkpoint-dir", default=None, help="as prune_compare's")
    p.add_argument("--export-dir", default=None, help="default WORK_DIR/exports")
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--speed-seconds", type=float, default=30.0)
    p.add_argument("--rank", type=int, default=None,
                   help="also export float32 and int8-channel at this rank (models wider)")
    p.add_argument("--note", default=None, help="a line for the table's header (the host's load)")
    p.add_argument("--output", default=None, help="default bench/results/serving_<dataset>.md")
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------ models
def located(args, path):
    """A row's recorded file, or the same file under this work dir's checkpoint dir (rows
    copied from another work dir record that dir's paths)."""
    parts = path.replace(os.sep, "/").split("/")
    if os.path.isfile(path) or "gcnprune" not in parts:
        return path
    tail = parts[len(parts) - 1 - parts[::-1].index("gcnprune"):]
    return os.path.join(common.checkpoint_dir(args), *tail)


def seed_models(args, seed):
    """``{label: (source, config dict)}``: the dense teacher, then each finished
    row of ``--criteria`` at ``--prune-ratios``; empty when the seed has none."""
    rows = []
    for ratio in args.prune_ratios.split(","):
        for criterion in args.criteria.split(","):
            path = common.row_path(args, seed, ratio, criterion)
            if os.path.isfile(path):
                rows.append(common.checked_row(common.read_json(path), args, path))
    if not rows:
        return {}
    base = {"seed": seed, "split_seed": args.split_seed, **common.overrides(args)}
    models = {DENSE: (located(args, rows[0]["teacher_file"]), {**base, "prune_criterion": "none"})}
    for row in rows:
        models[f"{row['criterion']} {1 - row['prune_ratio']:.0%}"] = (
            os.path.dirname(located(args, row["checkpoint"])),
            {**base, "prune_ratio": row["prune_ratio"], **common.method_settings(row["criterion"]),
             "checkpoint_dir": common.checkpoint_dir(args)})
    return models


def variants(args):
    """``{name: (dtype, rank)}`` of every export made of a model (rank None: full width)."""
    full = {dtype: (dtype, None) for dtype in DTYPES}
    ranked = {f"{dtype} rank {args.rank}": (dtype, args.rank) for dtype in RANKED} \
        if args.rank else {}
    return {**full, **ranked}


def exported(args, seed, label, source, config, dtype, rank=None):
    """Export one model in ``dtype`` (at ``rank``) and verify it (cached); returns the export
    folder and ``{served_bytes, width, ndcg@20, recall@20, exact}``."""
    from recbole_gcnprune.serving import export, verify

    name = f"{seed}-{label.replace(' ', '-').replace('%', '')}-{dtype}" + \
        (f"-rank{rank}" if rank else "")
    out = os.path.join(args.export_dir, name)
    cache = out + ".json"
    if os.path.isfile(cache) and os.path.isfile(os.path.join(out, "manifest.json")):
        return out, common.read_json(cache)
    flags = {"model": "GCNPruneGAN", "dataset": args.dataset, "overrides": [],
             "config_file_list": args.config_files, "config_dict": config}
    manifest = export(source, out, dtype=dtype, rank=rank, **flags)
    check = verify(out, source, k=K, use_faiss=False, **flags)
    result = {"served_bytes": manifest["served_bytes"], "width": manifest["vector_width"],
              **{m: check.export_metrics[f"{m}@{K}"] for m in ("ndcg", "recall")},
              "exact": check.exact}
    common.write_json(cache, result)
    return out, result


def split_test_users(args, seed):
    """RecBole tokens of the seed's test users, in its test loader's order."""
    from recbole_gcnprune.quick_start import load_data

    config = common.dense_config(args, seed)
    dataset, (_train, _valid, test) = load_data(config)
    return list(dataset.id2token(config["USER_ID_FIELD"], test.uid_list))


# ------------------------------------------------------------------------------ measurements
def overlap(served, reference, users):
    """Mean top-K overlap (seen items excluded) of ``served`` with ``reference`` over ``users``."""
    total = 0.0
    for start in range(0, len(users), 1000):
        rows = [served.row_of(u) for u in users[start:start + 1000]]
        for (a, _), (b, _) in zip(served.top_item_rows(rows, K, True),
                                  reference.top_item_rows(rows, K, True)):
            total += len(set(a) & set(b)) / K
    return total / len(users)


def users_per_second(jobs, n_users, rounds, min_seconds):
    """``{key: median users per second}`` of ``jobs`` (``{key: function}``, each serving
    ``n_users``), every job in turn within each round, after a warm-up round; and the rounds."""
    times = {key: [] for key in jobs}
    for job in jobs.values():
        job()
    start, done = time.perf_counter(), 0
    while done < rounds or time.perf_counter() - start < min_seconds:
        for key, job in jobs.items():
            began = time.perf_counter()
            job()
            times[key].append(time.perf_counter() - began)
        done += 1
    return {key: n_users / statistics.median(v) for key, v in times.items()}, done


def measure_seed(args, seed, models):
    """``{(label, dtype): measurements}`` of one seed's exports, and the rounds timed."""
    from recbole_gcnprune.serving import load

    results, folders = {}, {}
    for label, (source, config) in models.items():
        for name, (dtype, rank) in variants(args).items():
            if rank and rank >= results[label, "float32"]["width"]:
                continue
            folders[label, name], results[label, name] = exported(
                args, seed, label, source, config, dtype, rank)
    users = split_test_users(args, seed)
    tokens = (users * (args.users // len(users) + 1))[:args.users]
    served = {(key, b): load(folder, use_faiss=flag) for key, folder in folders.items()
              for b, flag in BACKENDS.items()}
    for (label, dtype) in results:
        results[label, dtype]["overlap"] = overlap(served[(label, dtype), "numpy"],
                                                   served[(label, "float32"), "numpy"], users)
    jobs = {(key, b): partial(model.recommend, tokens, K) for (key, b), model in served.items()}
    for key in folders:  # numpy's scores alone, without the top-K search
        model = served[key, "numpy"]
        jobs[key, "scores"] = partial(model.scores, [model.row_of(t) for t in tokens])
    speed, rounds = users_per_second(jobs, len(tokens), args.rounds, args.speed_seconds)
    for ((label, dtype), kind), rate in speed.items():
        results[label, dtype][kind] = rate
        results[label, dtype][kind + " speed-up"] = rate / speed[(DENSE, "float32"), kind]
    dense = results[DENSE, "float32"]
    for result in results.values():
        for key in ("served_bytes", "ndcg", "recall"):
            result[key + " share"] = result[key] / dense[key]
    return results, rounds


# ------------------------------------------------------------------------------------ table
def cell(runs, key, fmt="%.4f", scale=1.0):
    values = [r[key] * scale for r in runs]
    return (fmt + " ± " + fmt) % mean_std(values)


def render(args, models, per_seed, rounds, command):
    seeds = sorted(per_seed)
    speed_head = "".join(f" {b} users/s | {b} speed-up |" for b in SPEEDS)
    threads = ", ".join(f"{v}={os.environ[v]}" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                          "MKL_NUM_THREADS") if v in os.environ)
    lines = common.header_lines(f"Serving exports on {args.dataset}", command) + [
        f"Seeds: {','.join(map(str, seeds))}; split seed: {args.split_seed}; overrides: "
        f"{common.overrides(args) or 'none'}; config files: {args.config_files or 'none'}; "
        f"rows: `{common.shown_path(args.work_dir)}`  ",
        f"Speed: `recommend` of {args.users:,} test users, top-{K}, seen items not excluded "
        f"(`scores`: numpy's scores of the same users alone, without the top-{K} search); a "
        f"seed's exports timed in turn within each round, median of "
        f"{'-'.join(sorted({str(min(rounds)), str(max(rounds))}, key=int))} rounds (at least {args.speed_seconds:g} s) per seed; threads: "
        f"{threads or 'library defaults'}; FAISS "
        f"{'timed' if 'faiss' in BACKENDS else 'not installed'}  ",
        "Shares are of the dense float32 export (bytes, metrics, speed), per seed; the overlap "
        "is with the same model's float32 export (every test user, seen items excluded).  ",
        *([f"Note: {args.note}"] if args.note else []), "",
        "| model | width (per seed) | dtype | served bytes (mean) | % of dense f32 bytes | NDCG@20 | % of dense | "
        "Recall@20 | % of dense | top-20 overlap | float32 exact |" + speed_head,
        "|---|---|---|---:|---:|---|---:|---|---:|---|---|" + "---:|---:|" * len(SPEEDS)]
    for label in models:
        for dtype in variants(args):
            runs = [per_seed[s][label, dtype] for s in seeds if (label, dtype) in per_seed[s]]
            if not runs:
                continue
            exact = (f"{sum(r['exact'] for r in runs)}/{len(runs)}" if dtype == "float32"
                     else "-")
            speed = "".join(f" {cell(runs, b, '%.0f')} | {cell(runs, b + ' speed-up', '%.2f')}x |"
                            for b in SPEEDS)
            widths = [str(r["width"]) for r in runs]
            widths = widths[0] if len(set(widths)) == 1 else "/".join(widths)
            served = statistics.mean(r["served_bytes"] for r in runs)
            lines.append(
                f"| {label} | {widths} | {dtype} | {served:,.0f} | "
                f"{cell(runs, 'served_bytes share', '%.1f', 100)} | {cell(runs, 'ndcg')} | "
                f"{cell(runs, 'ndcg share', '%.1f', 100)} | {cell(runs, 'recall')} | "
                f"{cell(runs, 'recall share', '%.1f', 100)} | {cell(runs, 'overlap')} | "
                f"{exact} |{speed}")
    label = f"{args.criteria.split(',')[0]} 25%"
    return "\n".join(lines + goal_lines(per_seed, label, list(variants(args)))) + "\n"


def goal_lines(per_seed, label, names):
    """The goals, each met or not, from the seeds' means."""
    def mean(label, dtype, key):
        return statistics.mean(per_seed[s][label, dtype][key] for s in per_seed
                               if (label, dtype) in per_seed[s])

    def met(ok):
        return "met" if ok else "NOT met"

    if not all((label, "int8") in r for r in per_seed.values()):
        return ["", f"Goals: not checked ({label} missing)."]
    int8 = [d for d in names if d.startswith(INT8) and all((label, d) in r
                                                            for r in per_seed.values())]
    shares = {d: (mean(label, d, "ndcg share"), mean(label, d, "served_bytes share"))
              for d in int8}
    speed = {d: statistics.mean(r[label, d]["numpy"] / r[DENSE, d]["numpy"]
                                for r in per_seed.values()) for d in names
             if all((label, d) in r for r in per_seed.values())}
    exact = all(r["exact"] for res in per_seed.values() for (_, d), r in res.items()
                if d == "float32")
    return ["", "Goals (means over seeds):",
            f"- {label} int8 keeps >= 97% of dense NDCG@20 at <= 7% of the dense float32 bytes: "
            + ", ".join(f"{d} {100 * share:.1f}% at {100 * size:.1f}%"
                        for d, (share, size) in shares.items())
            + f": {met(any(a >= 0.97 and b <= 0.07 for a, b in shares.values()))}",
            f"- {label} served >= 3x faster than the dense export (numpy, same dtype): "
            + ", ".join(f"{d} {v:.2f}x" for d, v in speed.items())
            + f": {met(all(v >= 3 for v in speed.values()))}",
            f"- every float32 export verifies exact: {met(exact)}"]


def main(argv=None):
    args, command = common.parse_own_args(parse_args, MODULE, argv)
    args.export_dir = args.export_dir or os.path.join(args.work_dir, "exports")
    models, per_seed, rounds = {}, {}, []
    for seed in (int(s) for s in args.seeds.split(",")):
        seed_set = seed_models(args, seed)
        if not seed_set:
            print(f"seed {seed}: no finished row in {common.shown_path(args.work_dir)}; left out")
            continue
        models.update(seed_set)
        per_seed[seed], done = measure_seed(args, seed, seed_set)
        rounds.append(done)
    if not per_seed:
        sys.exit("error: no finished rows: run python -m bench.prune_compare first")
    common.publish(render(args, models, per_seed, rounds, command), args.output,
                   f"serving_{args.dataset}.md")


if __name__ == "__main__":
    main()
