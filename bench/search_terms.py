"""What the gan search's loss terms say about given channel sets, beside what validation says.

The cached teacher of ``prune_compare.py`` (same ``--set``/``--config-files``/``--seed``) is
rotated into its principal basis as the selection phase rotates it; each ``--keep`` set (channels
of the embedding group) is then applied as a hard mask to the frozen student (the teacher's
propagated embeddings, as ``search_learning_rate: 0`` searches), and the table gives, averaged
over the first ``--batches`` training batches (same batches and same profile items for every
set), the search's ranking term and distillation term, and the validation NDCG@20 of the teacher
hard-masked to that set (= the pruned model before fine-tuning). It also lists each leading
channel's energy among users and items and its mean, to tell a shared offset from a signal.

Usage:
    python bench/search_terms.py --dataset book-crossing \\
        --config-files properties/variants/book-crossing-bench5.yaml --set KEY=VALUE ... \\
        --checkpoint-dir DIR --keep 0-5 1-6     # writes bench/results/search_terms_<dataset>.md
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import common


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    common.add_cached_teacher_args(p)
    p.add_argument("--keep", nargs="+", required=True, help="channel ranges, e.g. 0-5 1-6 0-15")
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--channels", type=int, default=8, help="leading channels described")
    p.add_argument("--output", default=None)
    return p.parse_args(argv)


def channel_range(text):
    first, last = (int(x) for x in text.split("-"))
    return list(range(first, last + 1))


def rotated_teacher(args):
    """``(loaders, model, trainer)``: the cached teacher rotated as the gan selection rotates it."""
    loaders, model, trainer = common.cached_teacher_run(args, "gan")
    trainer._teacher(loaders[0], loaders[1], False, False)
    trainer._seed_phase(loaders[0], "selection")
    trainer._rotate_teacher()
    return loaders, model, trainer


def channel_rows(model, n_channels):
    """Per leading channel: energy among users and items, and their means (final embeddings)."""
    import torch

    with torch.no_grad():
        users, items = model.forward()
    return [(c, float((users[:, c] ** 2).sum()), float((items[:, c] ** 2).sum()),
             float(users[:, c].mean()), float(items[:, c].mean())) for c in range(n_channels)]


def search_terms(search, trainer, train, masks, n_batches):
    """Mean ranking and distillation terms of the frozen search under the hard ``masks``, on the
    same batches (loader shuffle and negative sampling reseeded) and profile items every call."""
    import torch

    from recbole_gcnprune.pruning.distill import profile_kl

    model = trainer.model
    trainer._seed_phase(train, "selection")
    search.rng.manual_seed(0)
    rank = distill = 0.0
    with torch.no_grad():
        for n, interaction in enumerate(train):
            if n == n_batches:
                break
            user_all, item_all = search._student_outputs(masks)
            user = interaction[model.USER_ID]
            rank += model.loss_from_embeddings(user_all, item_all, user,
                                               interaction[model.ITEM_ID],
                                               interaction[model.NEG_ITEM_ID]).sum().item()
            _, profiles = search.distillation.users_and_profiles(user, user_all, item_all)
            distill += profile_kl(*profiles).item()
    return rank / n_batches, distill / n_batches


def render(args, command, channels, rows):
    lines = [f"# The gan search's terms against validation, {args.dataset}", "",
             f"Command: `{command}`  ", f"Date: {common.now().isoformat(timespec='seconds')}  ",
             f"Versions: {common.versions_text(common.versions())}  ",
             (f"Seed {args.seed}'s cached teacher in its principal basis; terms averaged over the "
              f"first {args.batches} training batches, the same for every set."), "",
             "| channel | user energy | item energy | user mean | item mean |",
             "|---|---|---|---|---|"]
    lines += ["| %d | %.1f | %.1f | %.3f | %.3f |" % row for row in channels]
    lines += ["", "| kept channels | ranking term | distillation term | sum | valid NDCG@20 "
                  "(no fine-tuning) |", "|---|---|---|---|---|"]
    lines += [f"| {keep} | {rank:.4f} | {distill:.4f} | {rank + distill:.4f} | {score:.4f} |"
              for keep, rank, distill, score in rows]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args, command = common.parse_own_args(parse_args, __file__, argv)
    from recbole_gcnprune.model.gcn_prune_gan import EMBEDDING_GROUP
    from recbole_gcnprune.pruning.gan_search import AdversarialMaskSearch
    from recbole_gcnprune.pruning.groups import hard_masks

    (train, valid, _), model, trainer = rotated_teacher(args)
    search = AdversarialMaskSearch(model, trainer.teacher_embeddings, trainer.search_settings)
    rows = []
    for keep in args.keep:
        kept = {EMBEDDING_GROUP: channel_range(keep)}
        masks = hard_masks(model.channel_groups(), kept)
        rank, distill = search_terms(search, trainer, train, masks, args.batches)
        score = trainer._kept_valid_score(valid, kept)
        rows.append((keep, rank, distill, score))
    text = render(args, command, channel_rows(model, args.channels), rows)
    common.publish_table(args.output, f"search_terms_{args.dataset}.md", text)


if __name__ == "__main__":
    main()
