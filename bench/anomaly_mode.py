"""Training-epoch time with autograd's anomaly detection on and off, per leaderboard model.

RecBole 1.2.1's ``sequential_recommender/sine.py`` switches anomaly detection on for the whole
process when it is imported, and the plugin's model lookup imported it until the compat shim
undid it: every RecBole baseline of the leaderboards trained in that mode (our GCNPruneGAN rows
only in leaderboard runs whose model list named a baseline). This script measures what that cost.
Each model is built from its seed-2020 leaderboard row (the row's config, on the CPU), then
``trainer._train_epoch`` runs with the mode on and off in turn (the order flips every round),
after one untimed epoch in each mode; medians over ``--epochs`` rounds, in one process. The
mode only adds checks: for ``--same-weights`` (LightGCN by default) the script also trains the
row's model twice from the same seed, once per mode, and reports whether the weights are equal.

    python bench/anomaly_mode.py --output results/leaderboard/ml-100k --threads 1
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common
from bench.leaderboard_speed import finished_rows

DEFAULT_MODELS = "BPR,NeuMF,SimpleX,LightGCN,SGL,NGCF,GCNPruneGAN[prune_criterion=none]"
MODES = (True, False)  # anomaly detection on (as the leaderboards trained), off (the fix)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", required=True, help="a leaderboard folder (with rows/)")
    p.add_argument("--models", default=DEFAULT_MODELS,
                   help="comma-separated row labels (those without a finished row are skipped)")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per model and mode")
    p.add_argument("--same-weights", default="LightGCN",
                   help="row label trained twice from one seed, once per mode, weights compared")
    p.add_argument("--table", default=None,
                   help="markdown output (default bench/results/anomaly_mode_<folder>.md)")
    common.add_threads_flag(p)
    return p.parse_args(argv)


def build_trainer(row):
    """``(trainer, train_data)`` of the row's model, built as the leaderboard builds it."""
    from recbole_gcnprune.quick_start import build_model_and_trainer, load_data

    config = common.cpu_row_config(row)
    train = load_data(config)[1][0]
    return build_model_and_trainer(config, train)[1], train


def epoch_seconds(trainer, train, epoch, anomaly):
    """Wall seconds of one training epoch with anomaly detection set to ``anomaly``."""
    import torch

    torch.autograd.set_detect_anomaly(anomaly)
    try:
        start = time.perf_counter()
        trainer._train_epoch(train, epoch)
        return time.perf_counter() - start
    finally:
        torch.autograd.set_detect_anomaly(False)


def time_model(row, epochs):
    """``{mode: [seconds per timed epoch]}``, the modes alternating, the order flipped per round."""
    trainer, train = build_trainer(row)
    times = {mode: [] for mode in MODES}
    for r in range(1 + epochs):
        for mode in (MODES if r % 2 == 0 else MODES[::-1]):
            seconds = epoch_seconds(trainer, train, r, mode)
            if r:
                times[mode].append(seconds)
            print(f"  {row['label']:<20} anomaly={'on ' if mode else 'off'} "
                  f"{'timed' if r else 'warm-up'} {seconds:7.2f} s", flush=True)
    return times


def same_weights(row, epochs):
    """Whether ``epochs`` epochs from the same seed give equal weights with the mode on and off."""
    states = []
    for mode in MODES:
        trainer, train = build_trainer(row)
        for epoch in range(epochs):
            epoch_seconds(trainer, train, epoch, mode)
        states.append(trainer.model.state_dict())
    on, off = states
    return on.keys() == off.keys() and all(on[k].equal(off[k]) for k in on)


def table(folder, command, started, load_before, results, epochs, same):
    """The Markdown table; ``same``: ``(label, weights equal)`` of the seed check, or None."""
    vers = common.versions()
    lines = [
        f"# Training-epoch time, autograd anomaly detection on vs off: {os.path.basename(folder)}",
        "",
        f"- command: `{command}`",
        f"- date: {started.isoformat(timespec='seconds')}",
        f"- host: {common.host()}; load avg before {load_before}, after {common.load_avg()}",
        "- versions: " + common.versions_text(vers),
        f"- protocol: each model built from its seed-2020 row in `{folder}/rows` (the row's "
        f"config, CPU); 1 untimed epoch per mode, then {epochs} timed `trainer._train_epoch` "
        "calls per mode, on/off alternating (order flipped each round); wall-clock medians.",
        "",
        "| model | epoch, anomaly on (s) | epoch, anomaly off (s) | on / off |",
        "|---|---:|---:|---:|",
    ]
    for label, times in results.items():
        on, off = (statistics.median(times[mode]) for mode in MODES)
        lines.append(f"| {label} | {on:.2f} | {off:.2f} | {on / off:.2f}x |")
    lines += ["", "Per-epoch seconds (on; off): " + "; ".join(
        f"{label}: " + "; ".join(" ".join(f"{s:.2f}" for s in times[mode]) for mode in MODES)
        for label, times in results.items())]
    if same is not None:
        label, equal = same
        lines += ["", f"{label}, {epochs} epochs from one seed, once per mode: "
                      f"weights {'identical' if equal else 'DIFFERENT'}."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args, command = common.parse_own_args(parse_args, __file__, argv)
    common.set_threads(args.threads)
    folder = args.output.rstrip("/")
    rows = finished_rows(folder)
    labels = [label for label in args.models.split(",") if label in rows]
    started, load_before = common.now(), common.load_avg()
    results = {}
    for label in labels:
        results[label] = time_model(rows[label], args.epochs)
    same = ((args.same_weights, same_weights(rows[args.same_weights], args.epochs))
            if args.same_weights in rows else None)
    out = args.table or os.path.join(common.RESULTS,
                                     f"anomaly_mode_{os.path.basename(folder)}.md")
    text = table(folder, command, started, load_before, results, args.epochs, same)
    common.write_text(out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
