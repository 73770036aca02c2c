"""Time of one ranking-distillation loss (forward + backward), the per-user gathers it was
computed with until the fourteenth session vs the matrix products of ``pruning/distill.py``.

Both versions score the same sampled users on the same profile items (each user's teacher top
``n_top`` + ``n_items_sampled`` shared random items) from random embeddings of a dataset's shape
(``--shapes``: users x items); the student has width 16 (the 25% model, as in fine-tuning) or
64 (the masked full-width student of the gan search). Calls alternate A, B / B, A by round, so a
shared machine's drift hits both; medians over ``--repeats`` rounds, after one untimed call each.

Usage:
    python bench/distill_step.py --threads 1     # writes bench/results/distill_step.md
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import common

SHAPES = {"ml-100k": (944, 1683), "book-crossing-bench5": (7033, 9441)}
TEACHER_WIDTH = 64


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--shapes", default=",".join(SHAPES), help=f"of {sorted(SHAPES)}")
    p.add_argument("--widths", default="16,64", help="student widths")
    p.add_argument("--tops", default="0,400", help="teacher's top items per user (n_top)")
    p.add_argument("--n-items-sampled", type=int, default=128)
    p.add_argument("--batch", type=int, default=2048, help="interactions per training batch")
    p.add_argument("--repeats", type=int, default=15)
    common.add_threads_flag(p)
    p.add_argument("--output", default=os.path.join(common.RESULTS, "distill_step.md"))
    return p.parse_args(argv)


def gathered_profiles(distillation, users, items, user_all, item_all):
    """The former formulation: each user's scores on its ``items`` row by an einsum over the
    gathered item embeddings, for the teacher and the student alike."""
    import torch

    def scores(u, i):
        return torch.einsum("ud,uld->ul", u[users], i[items])
    return scores(distillation.teacher_user, distillation.teacher_item), scores(user_all, item_all)


def former_loss(distillation, user, user_all, item_all):
    """The loss as ``RankingDistillation.loss`` computed it before (same sampling, same order)."""
    from recbole_gcnprune.pruning.distill import profile_kl

    users = distillation.sample_users(user)
    items = distillation.profile_items(users, distillation.shared_items(users.device))
    return profile_kl(*gathered_profiles(distillation, users, items, user_all, item_all))


def case(n_users, n_items, width, n_top, args):
    """``{"former": [s...], "current": [s...]}`` for one shape, width and depth."""
    import torch

    from recbole_gcnprune.pruning.distill import RankingDistillation

    torch.manual_seed(0)
    teacher = (torch.randn(n_users, TEACHER_WIDTH), torch.randn(n_items, TEACHER_WIDTH))
    student = [torch.randn(n_users, width, requires_grad=True),
               torch.randn(n_items, width, requires_grad=True)]
    distillation = RankingDistillation(teacher, args.n_items_sampled, n_top,
                                       torch.Generator().manual_seed(0))
    user = torch.randint(n_users, (args.batch,))
    calls = {"former": lambda: former_loss(distillation, user, *student),
             "current": lambda: distillation.loss(user, *student)}
    times = {name: [] for name in calls}
    for name, call in calls.items():
        call().backward()
    for r in range(args.repeats):
        for name in (list(calls) if r % 2 == 0 else list(calls)[::-1]):
            start = time.perf_counter()
            calls[name]().backward()
            times[name].append(time.perf_counter() - start)
    return times


def render(rows, args, command):
    lines = ["# Distillation loss: per-user gathers (former) vs matrix products (current)", "",
             f"Command: `{command}`  ",
             f"Date: {common.now().isoformat(timespec='seconds')}  ",
             f"Host: {common.host(threads_set=bool(args.threads))}, load {common.load_avg()}  ",
             f"Versions: {common.versions_text(common.versions())}  ",
             (f"Batch of {args.batch} interactions (at most 256 users sampled), "
              f"{args.n_items_sampled} shared random items, teacher width {TEACHER_WIDTH}; "
              f"median of {args.repeats} interleaved rounds, forward + backward."), "",
             ("| shape (users x items) | student width | n_top | former ms | current ms | "
              "former / current |"),
             "|---|---|---|---|---|---|"]
    for (shape, width, n_top), times in rows:
        former, current = (1000 * statistics.median(times[k]) for k in ("former", "current"))
        lines.append(f"| {shape} {SHAPES[shape][0]}x{SHAPES[shape][1]} | {width} | {n_top} | "
                     f"{former:.1f} | {current:.1f} | {former / current:.2f}x |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    args, command = common.parse_own_args(parse_args, __file__, argv)
    common.set_threads(args.threads)
    rows = []
    for shape in args.shapes.split(","):
        for width in (int(w) for w in args.widths.split(",")):
            for n_top in (int(t) for t in args.tops.split(",")):
                rows.append(((shape, width, n_top), case(*SHAPES[shape], width, n_top, args)))
                print(render(rows[-1:], args, command).splitlines()[-1], flush=True)
    common.write_text(args.output, render(rows, args, command))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
