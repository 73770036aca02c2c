"""Book-Crossing, full unfiltered table: dense GCNPruneGAN trains and evaluates on CPU in 24 GiB.

Converts the dump (``--dump``, default: the copy in ``../shared/data``) into ``--data-path`` unless
``book-crossing.inter`` is already there, loads every interaction (all ratings, no k-core:
``val_interval: ~``, ``user/item_inter_num_interval: [0,inf)``) through the plugin's Config and
``load_data`` (RecBole's random 80/10/10 split per user), builds the dense model (LightGCN
backbone, no pruning) with RecBole's plain ``Trainer``, then:

* times ``--probe-batches`` training batches at RecBole's default batch size 2048 (a full epoch
  at that size is extrapolated: the full-graph propagation dominates every batch);
* trains ``--epochs`` full epochs at ``--batch-size`` (``trainer._train_epoch``);
* runs one full-sort evaluation over all 339,899 items on the test split, for a fixed random
  subset of ``--eval-users`` test users (0: all of them).

Peak RSS of each phase is VmHWM, reset before the phase through ``/proc/self/clear_refs`` (Linux),
plus ``resource.getrusage`` for the whole process. Writes ``bench/results/bookcrossing_full.md``.

Usage: python -m bench.bookcrossing_full [--epochs 2] [--eval-users 5000] [--batch-size 65536]

About 6 min on a shared 2-core box: each training step propagates the whole 445k-node graph
(seconds per step on CPU), so the epochs use a large batch and the evaluation a user subset.
"""

import argparse
import os
import resource
import sys
import time

from bench import common

SHARED_DUMP = os.path.relpath(os.path.join(common.ROOT, os.pardir, "shared", "data",
                                           "book-crossing", "BX-Book-Ratings.csv.xz"))
GIB = 1024**3


def parse_args(argv):
    p = common.argument_parser("bench.bookcrossing_full", __doc__,
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dump", default=SHARED_DUMP, help="BX-Book-Ratings.csv[.xz|.gz] or zip")
    p.add_argument("--data-path", default="bench/.work/bookcrossing_full",
                   help="where the converted table and the checkpoints go")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=65536, help="train_batch_size of the epochs")
    p.add_argument("--probe-batches", type=int, default=5, help="timed batches of size 2048")
    p.add_argument("--eval-users", type=int, default=5000, help="test users evaluated (0: all)")
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--output", default=os.path.join("bench", "results", "bookcrossing_full.md"))
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------ memory
def process_peak_gib():
    """The whole process's peak RSS (``getrusage``), in GiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB


class Phase:
    """Context manager timing a phase and recording its peak RSS."""

    def __init__(self, log, name):
        self.log, self.name = log, name

    def __enter__(self):
        self.peak_reset = common.reset_peak_rss()
        self.began = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.began
        peak = (common.proc_status_bytes("VmHWM") / GIB if self.peak_reset
                else process_peak_gib())
        self.log.append((self.name, self.seconds, peak, common.proc_status_bytes("VmRSS") / GIB))
        print(f"{self.name}: {self.seconds:.1f} s, peak RSS {peak:.2f} GiB", flush=True)


# ------------------------------------------------------------------------------------ pieces
def config_dict(args):
    """Every interaction, no k-core; the dense model on the CPU."""
    return {
        "data_path": args.data_path,
        "val_interval": None,
        "user_inter_num_interval": "[0,inf)",
        "item_inter_num_interval": "[0,inf)",
        "epochs": args.epochs,
        "train_batch_size": args.batch_size,
        "eval_batch_size": 40_000_000,  # ~117 users x 339,900 items per full-sort batch
        "layer_transform": "none",
        "prune_criterion": "none",
        "seed": args.seed,
        "use_gpu": False,
        "show_progress": False,
        "checkpoint_dir": os.path.join(args.data_path, "saved"),
    }


def test_user_subset(config, test_data, n_users, seed):
    """A full-sort loader over ``n_users`` random test users (same history masking)."""
    import numpy as np
    from recbole.data.dataloader import FullSortEvalDataLoader

    dataset = test_data._dataset
    users = dataset.inter_feat[dataset.uid_field].numpy()
    all_users = np.unique(users)
    if n_users <= 0 or n_users >= len(all_users):
        return test_data, len(all_users), len(all_users)
    chosen = np.random.default_rng(seed).choice(all_users, size=n_users, replace=False)
    import torch

    subset = dataset.copy(dataset.inter_feat[torch.from_numpy(np.isin(users, chosen))])
    loader = FullSortEvalDataLoader(config, subset, test_data._sampler, shuffle=False)
    return loader, n_users, len(all_users)


def probe_batches(config, model, train_data, n_batches):
    """Seconds per training step at batch size 2048 (own optimizer; weights restored after)."""
    import copy

    from recbole.data.dataloader import TrainDataLoader
    from recbole.trainer import Trainer

    saved = copy.deepcopy(model.state_dict())
    size = config["train_batch_size"]
    config["train_batch_size"] = 2048
    loader = TrainDataLoader(config, train_data._dataset, train_data._sampler, shuffle=True)
    config["train_batch_size"] = size
    trainer = Trainer(config, model)
    model.train()
    began, done = time.perf_counter(), 0
    for interaction in loader:
        trainer.optimizer.zero_grad()
        model.calculate_loss(interaction.to(model.device)).backward()
        trainer.optimizer.step()
        done += 1
        if done == n_batches:
            break
    seconds = (time.perf_counter() - began) / max(done, 1)
    model.load_state_dict(saved)
    return seconds, len(loader)


def load_and_build(args, log, facts):
    """Convert the dump if needed, load and split it, build the model; ``(config, model, train,
    test)``, each phase logged and the data's and model's sizes put in ``facts``."""
    from recbole_gcnprune.config import Config
    from recbole_gcnprune.data.bookcrossing import convert
    from recbole_gcnprune.quick_start import load_data
    from recbole_gcnprune.registry import get_model

    inter = os.path.join(args.data_path, "book-crossing", "book-crossing.inter")
    if not os.path.isfile(inter):
        with Phase(log, "convert dump"):
            facts["convert"] = convert(common.shown_path(args.dump),
                                       common.shown_path(os.path.dirname(inter))).summary()
    config = Config("GCNPruneGAN", "book-crossing", None, config_dict(args))
    with Phase(log, "RecBole load + split"):
        dataset, (train_data, _, test_data) = load_data(config)
    with Phase(log, "build model (graph)"):
        model = get_model("GCNPruneGAN")(config, train_data._dataset)
    facts.update(
        users=dataset.user_num - 1, items=dataset.item_num - 1, inters=dataset.inter_num,
        train=len(train_data._dataset), test=len(test_data._dataset),
        params=sum(p.numel() for p in model.parameters()), batches=len(train_data),
        lr=config["learning_rate"],
        nodes=model.adjacency.shape[0], nnz=int(model.adjacency.values().numel()),
    )
    return config, model, train_data, test_data


def run(args):
    """``(log, facts)``: each phase's (name, seconds, peak RSS, RSS after) and the figures the
    report quotes."""
    from recbole.trainer import Trainer

    log, facts = [], {}
    config, model, train_data, test_data = load_and_build(args, log, facts)
    if args.probe_batches:
        with Phase(log, f"{args.probe_batches} batches of 2048"):
            facts["step_2048"], facts["batches_2048"] = probe_batches(
                config, model, train_data, args.probe_batches)
    trainer = Trainer(config, model)
    losses = []
    for epoch in range(args.epochs):
        with Phase(log, f"train epoch {epoch + 1} (batch {args.batch_size})"):
            losses.append(float(trainer._train_epoch(train_data, epoch, show_progress=False)))
    loader, n_eval, n_test = test_user_subset(config, test_data, args.eval_users, args.seed)
    facts.update(eval_users=n_eval, test_users=n_test, losses=losses)
    with Phase(log, f"full-sort evaluation ({n_eval:,} test users)"):
        facts["result"] = trainer.evaluate(loader, load_best_model=False, show_progress=False)
    return log, facts


# ------------------------------------------------------------------------------------ report
def markdown_head(args, command, facts, started, load_before):
    """The report's head: command, date, host, versions, data, model, conversion."""
    f = facts
    load_after = common.load_avg()
    return [
        "# Book-Crossing, full unfiltered table: dense GCNPruneGAN on CPU",
        "",
        f"- command: `{command}`",
        (f"- date: {started}; host: {common.host('cpu')}; load avg (1/5/15 min) before "
         f"{load_before}, after {load_after}"),
        "- versions: "
        + common.versions_text(common.versions(), only=("python", "torch", "recbole")),
        (f"- data: {f['inters']:,} interactions, {f['users']:,} users, {f['items']:,} items "
         "(every rating, 0-10, no k-core); random 80/10/10 split per user: "
         f"{f['train']:,} train / {f['test']:,} test interactions"),
        (f"- model: GCNPruneGAN dense (LightGCN backbone, embedding_size 64, 3 layers), "
         f"{f['params']:,} parameters; graph {f['nodes']:,} nodes, {f['nnz']:,} non-zeros"),
    ] + ([f"- conversion: {f['convert']}"] if "convert" in f else [])


def markdown(args, command, log, facts, started, load_before):
    """The report: settings, data and model, each phase's time and memory, the metrics."""
    f = facts
    lines = markdown_head(args, command, facts, started, load_before)
    lines += ["", "| phase | wall time (s) | peak RSS (GiB) | RSS after (GiB) |",
              "|---|---:|---:|---:|"]
    lines += [f"| {name} | {sec:.1f} | {peak:.2f} | {rss:.2f} |" for name, sec, peak, rss in log]
    lines += [
        "",
        f"**Peak RSS of the whole process: {process_peak_gib():.2f} GiB** (limit 24 GiB).",
        "",
        f"- training: {args.epochs} epochs of {f['batches']} batches of {args.batch_size:,} "
        f"(BPR, Adam lr {f['lr']}); losses " + ", ".join(f"{x:.2f}" for x in f["losses"]),
    ]
    if "step_2048" in f:
        lines.append(
            f"- RecBole's default train_batch_size 2048: {f['step_2048']:.2f} s per batch "
            f"(mean of {args.probe_batches}), so one epoch of {f['batches_2048']} batches would "
            f"take ~{f['step_2048'] * f['batches_2048'] / 60:.0f} min; every batch propagates the "
            "whole graph, hence the larger batch above")
    subset = ("all" if f["eval_users"] == f["test_users"] else
              f"a fixed random subset (numpy seed {args.seed}) of {f['eval_users']:,} of the "
              f"{f['test_users']:,}")
    lines += [
        (f"- evaluation: full-sort ranking of all {f['items']:,} items (train and valid items "
         f"masked) for {subset} test users, after {args.epochs} epochs (far from converged):"),
        "",
        "| metric | value |", "|---|---:|",
    ]
    lines += [f"| {k} | {v:.4f} |" for k, v in f["result"].items()]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args, command = common.parse_own_args(parse_args, "bench.bookcrossing_full", argv)
    started = common.now().isoformat(timespec="seconds")
    load_before = common.load_avg()
    log, facts = run(args)
    common.publish(markdown(args, command, log, facts, started, load_before), args.output,
                   "bookcrossing_full.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
