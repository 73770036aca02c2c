"""Pruning in two steps against one: a finished prune_compare row's pruned model (e.g. 25% kept,
16 of 64 channels) is pruned again to a narrower width (e.g. 6 channels, 10% of the dense
width) and fine-tuned; the table sets it beside prune_compare's one-step row at that width.

Pruning gradually is the usual remedy when a single step removes too much (Zhu and Gupta,
"To prune, or not to prune", 2017). Step two is our whole pipeline (rotation, selection by the
row's criterion, physical pruning, fine-tuning) run on the step-one model, loaded as the
teacher checkpoint of a model of its width. ``--distil-from dense`` (the default) keeps the
dense teacher as the search's and the fine-tuning's distillation target (the rotation uses the
step-one model's own embeddings); ``--distil-from start`` distils from the step-one model.

    python bench/staged_pruning.py --dataset book-crossing \
      --config-files properties/variants/book-crossing-recommended.yaml --seeds 2020,2021,2022 \
      --split-seed 2020 --rows-dir bench/.work/det-split20-all --from-ratio 0.75 --prune-ratio 0.9
"""

import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common
from bench import prune_compare as pc


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--config-files", nargs="*", default=None)
    p.add_argument("--set", nargs="*", default=[], help="the overrides of the rows' command")
    p.add_argument("--seeds", default="2020")
    p.add_argument("--split-seed", type=int, default=2020)
    p.add_argument("--criterion", default="gan")
    p.add_argument("--rows-dir", required=True,
                   help="prune_compare's --work-dir with the rows of both ratios")
    p.add_argument("--from-ratio", type=float, default=0.75, help="step one's prune ratio")
    p.add_argument("--prune-ratio", type=float, default=0.9, help="the final prune ratio")
    p.add_argument("--distil-from", choices=("dense", "start"), default="dense")
    p.add_argument("--work-dir", default="bench/.work/staged")
    p.add_argument("--output", default=None, help="markdown table (default bench/results/...)")
    p.add_argument("--render-only", action="store_true", help="tabulate finished rows only")
    args = p.parse_args(argv)
    args.rows = rows_args(args)
    return args


def rows_args(args):
    """prune_compare's arguments naming the one-step rows (read, never run, here)."""
    argv = ["--dataset", args.dataset, "--split-seed", str(args.split_seed), "--work-dir",
            args.rows_dir, "--render-only", "--set", *args.set]
    return pc.parse_args(argv + (["--config-files", *args.config_files] if args.config_files
                                 else []))


def finished_row(args, seed, ratio):
    row = pc.run_row(args.rows, seed, ratio, args.criterion)
    if row is None:
        sys.exit(f"error: no {args.criterion} row for seed {seed} at prune ratio {ratio} in "
                 f"{args.rows_dir}: run bench/prune_compare.py with that --work-dir first")
    return row


def stage_two_trainer(distil_from_dense, dense_embeddings):
    """GANPruneTrainer, distilling from ``dense_embeddings`` when ``distil_from_dense``."""
    from recbole_gcnprune.trainer.gan_prune_trainer import GANPruneTrainer

    class StageTwoTrainer(GANPruneTrainer):
        def _capture_teacher_embeddings(self):  # also on a resumed run, before fine-tuning
            super()._capture_teacher_embeddings()  # the step-one model's: the rotation's basis
            self.own_embeddings = self.teacher_embeddings
            if distil_from_dense:
                self.teacher_embeddings = dense_embeddings

        def _rotate_teacher(self):
            target, self.teacher_embeddings = self.teacher_embeddings, self.own_embeddings
            super()._rotate_teacher()
            self.teacher_embeddings = target

    return StageTwoTrainer


def dense_embeddings(args, seed, train, teacher_file):
    """The dense teacher's final (user, item) embeddings."""
    import torch

    from recbole_gcnprune.pruning.checkpoint import load_into, read_checkpoint
    from recbole_gcnprune.quick_start import build_model

    dense = load_into(build_model(pc.dense_config(args.rows, seed), train),
                      read_checkpoint(teacher_file)).eval()
    with torch.no_grad():
        return tuple(t.detach() for t in dense.forward())


def run_two_step(args, seed, end_row):
    """Step two from seed ``seed``'s step-one row, to ``end_row``'s width (the one-step row it
    is compared with); cached as JSON in ``--work-dir``."""
    path = os.path.join(args.work_dir, args.dataset, f"two-step-{seed}-split{args.split_seed}-"
                        f"{args.from_ratio}-{args.prune_ratio}-{args.distil_from}.json")
    if os.path.isfile(path):
        with open(path) as f:
            return json.load(f)
    if args.render_only:
        return None
    start_row = finished_row(args, seed, args.from_ratio)
    start_width, end_width = start_row["widths"]["embedding"], end_row["widths"]["embedding"]
    result, report = stage_two(args, seed, start_row, 1.0 - end_width / start_width)
    if report["kept"]["embedding"] != end_width:
        sys.exit(f"error: step two kept {report['kept']}, not {end_width} channels")
    row = {"seed": seed, "start_width": start_width, "widths": report["kept"],
           "parameters": report["pruned"]["parameters"], "start_row": start_row["checkpoint"],
           "test": {k: float(v) for k, v in result["test"].items()},
           "valid_ndcg@20": float(result["valid"]["ndcg@20"]), "cpu": common.cpu()}
    common.write_json(path, row)
    return row


def stage_two(args, seed, start_row, ratio):
    """``({"test", "valid"}, report)`` of step two: prune the step-one model by ``ratio``."""
    from recbole.utils import init_logger

    from recbole_gcnprune.atomic import atomic_torch_save
    from recbole_gcnprune.config import Config
    from recbole_gcnprune.pruning.checkpoint import read_checkpoint
    from recbole_gcnprune.quick_start import load_data, model_and_trainer

    start_file = os.path.join(args.work_dir, args.dataset, f"start-{seed}-{args.from_ratio}.pth")
    atomic_torch_save({"state_dict": read_checkpoint(start_row["checkpoint"])["state_dict"]},
                      start_file)  # a plain state dict: a model of the step-one width loads it
    config = Config("GCNPruneGAN", args.dataset, args.config_files, {
        "seed": seed, "split_seed": args.split_seed, "prune_ratio": ratio,
        "prune_criterion": args.criterion, "embedding_size": start_row["widths"]["embedding"],
        "teacher_checkpoint": start_file,
        "checkpoint_dir": os.path.join(args.work_dir, "saved", args.distil_from),
        **pc.overrides(args.rows)})
    init_logger(config)
    _, (train, valid, test) = load_data(config)
    target = dense_embeddings(args, seed, train, start_row["teacher_file"])
    trainer_class = stage_two_trainer(args.distil_from == "dense", target)
    with model_and_trainer(config, train, trainer_class) as (_, trainer):
        _, valid_result = trainer.fit(train, valid, saved=True)
        test_result = trainer.evaluate(test, load_best_model=True)
    return {"test": test_result, "valid": valid_result}, trainer.report


def render(args, pairs, command):
    lines = [f"# Pruning in two steps against one, {args.dataset}", "",
             f"Command: `{command}`  ", f"Date: {common.now():%Y-%m-%d %H:%M}  ",
             f"Host: {common.host()}  ",
             f"Criterion {args.criterion}; step one prunes {args.from_ratio:g}, the result "
             f"{args.prune_ratio:g}; distillation from the {args.distil_from} model; split seed "
             f"{args.split_seed}; rows: `{args.rows_dir}`", "",
             "| seed | one step: test NDCG@20 (valid) | two steps: test NDCG@20 (valid) | "
             "two steps minus one, test | kept (two steps) |", "|---|---|---|---|---|"]
    for one, two in pairs:
        lines.append(f"| {one['seed']} | {one['test']['ndcg@20']:.4f} ({pc.valid_ndcg(one):.4f}) "
                     f"| {two['test']['ndcg@20']:.4f} ({two['valid_ndcg@20']:.4f}) | "
                     f"{two['test']['ndcg@20'] - one['test']['ndcg@20']:+.4f} | "
                     f"{two['widths']['embedding']} of {two['start_width']} |")
    diffs = [two["test"]["ndcg@20"] - one["test"]["ndcg@20"] for one, two in pairs]
    if len(diffs) > 1:
        lines.append(f"| mean | {statistics.mean(o['test']['ndcg@20'] for o, _ in pairs):.4f} | "
                     f"{statistics.mean(t['test']['ndcg@20'] for _, t in pairs):.4f} | "
                     "%+.4f ± %.4f |  |" % pc.mean_std(diffs))
    return "\n".join(lines) + "\n"


def main(argv=None):
    args, command = common.parse_own_args(parse_args, __file__, argv)
    pairs = []
    for seed in (int(s) for s in args.seeds.split(",")):
        one = finished_row(args, seed, args.prune_ratio)
        two = run_two_step(args, seed, one)
        if two is not None:
            pairs.append((one, two))
    name = f"staged_pruning_{args.dataset}_{args.distil_from}.md"
    common.publish_table(args.output, name, render(args, pairs, command))


if __name__ == "__main__":
    main()
