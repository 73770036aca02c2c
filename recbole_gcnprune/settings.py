"""PruneSettings: GCNPruneGAN's pruning keys in one typed object, validated when it is built.

Each key is one field here: its default, the rule a value must follow, the phase it acts on and
one line for the docs. Config, the trainer, the run caches' keys and ``docs/keys.md`` all read
this class, so adding a key touches this file alone (and the code that uses the value).

    python -m recbole_gcnprune.settings > docs/keys.md   # regenerate the key table
"""

import os
from dataclasses import asdict, dataclass, field, fields

from recbole_gcnprune.errors import ConfigError

PRUNE_CRITERIA = ("gan", "magnitude", "taylor", "random", "train_small", "distill_small", "none")
FROM_SCRATCH = ("train_small", "distill_small")  # the pruned widths, re-initialised
# On the command line RecBole keeps "~" and "none" as strings ("None" becomes None).
UNSET = ("~", "none")


@dataclass(frozen=True)
class Rule:
    """What a valid value is: ``check(value)``, said in words, with a command-line example."""

    check: object
    expected: str
    example: str


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _integer(v):
    return isinstance(v, int) and not isinstance(v, bool)


POSITIVE_INT = (lambda v: _integer(v) and v > 0, "a positive integer")
NON_NEGATIVE_INT = (lambda v: _integer(v) and v >= 0, "a non-negative integer")
NON_NEGATIVE = (lambda v: _number(v) and v >= 0, "a number >= 0")
POSITIVE = (lambda v: _number(v) and v > 0, "a number > 0")


def one_of(*choices):
    return (lambda v: v in choices, f"one of {', '.join(choices)}")


def key(default, kind, doc, example=None, phase="all", optional=False):
    """A settings field. ``kind``: (check, expected); ``phase``: what the key acts on (``search``:
    the gan search only; ``taylor``: the taylor criterion only; ``inherit``: only a model that
    starts from the teacher's weights; ``rotation``: a selection from the teacher's channels;
    ``buckets``: an allocation over popularity buckets; ``distill``: every run but train_small, which learns
    without the teacher; ``all``); ``optional``: None is a valid value (``~`` on the command line) and means what
    ``doc`` says."""
    check, expected = kind
    rule = Rule(check, expected + (", or ~" if optional else ""),
                example or f"--{{name}}={default}")
    return field(default=default, metadata={"rule": rule, "doc": doc, "phase": phase,
                                            "optional": optional})


@dataclass(frozen=True)
class PruneSettings:
    """The pruning pipeline's keys (``GANPruneTrainer``). Build it with :meth:`from_config`."""

    prune_criterion: str = key(
        "gan", one_of(*PRUNE_CRITERIA),
        "how channels are chosen: gan (adversarial search), magnitude (channel L2 norm), taylor "
        "(first-order, Molchanov 2019), random, train_small (same widths trained from scratch), "
        "distill_small (the same, distilled from the teacher), none (the dense teacher only)")
    prune_ratio: float = key(
        0.75, (lambda v: _number(v) and 0 < v < 1,
               "the fraction of parameters to remove, strictly between 0 and 1"),
        "fraction of the prunable parameters removed (0.75 keeps 25%), spent as "
        "prune_allocation says")
    prune_allocation: str = key(
        "global", one_of("uniform", "global", "frequency"),
        "how the budget is spent: global (one cost-aware choice over the channels of every "
        "popularity bucket, by the criterion's scores per parameter; without buckets when the "
        "model has layer transforms), uniform (every group keeps the same share of its "
        "channels), frequency (bucket widths ~ popularity^0.3, Ginart et al.)")
    popularity_buckets: int = key(
        4, (lambda v: _integer(v) and 1 <= v <= 255, "an integer from 1 to 255"),
        "global and frequency: the user and the item tables are each split into this many "
        "popularity buckets (by training degree, equal interaction mass), each a channel group "
        "with its own width", phase="buckets")
    prune_rotation: str = key(
        "pca", one_of("pca", "none"),
        "pca: rotate the embedding channels into the teacher's principal basis before the "
        "selection (the function is unchanged); none: keep the trained basis",
        phase="rotation")
    teacher_checkpoint: str = key(
        None, (lambda v: isinstance(v, (str, os.PathLike)), "a file path"),
        "dense checkpoint to prune (~: train one, cached under checkpoint_dir)",
        example="--teacher_checkpoint=saved/gcnprune/teachers/FILE.pth", optional=True)
    taylor_batches: int = key(20, POSITIVE_INT,
                              "training batches averaged by the taylor criterion", phase="taylor")
    inherit_weight: float = key(
        0.25, (lambda v: _number(v) and 0 <= v <= 1, "a number in [0, 1]"),
        "fine-tuning starts from w * inherited + (1 - w) * fresh init (shrink and perturb; "
        "1: the teacher's weights as they are)", phase="inherit")
    finetune_distill_weight: float = key(
        1.0, NON_NEGATIVE,
        "ranking distillation from the teacher while fine-tuning (0: the ranking loss alone)",
        phase="distill")
    distill_top_items: int = key(
        400, NON_NEGATIVE_INT,
        "teacher's top items per user in the fine-tuning's distillation profiles",
        phase="distill")
    finetune_learning_rate: float = key(
        None, POSITIVE,
        "learning rate after pruning: fine-tuning, and train_small/distill_small (~: "
        "learning_rate)", example="--finetune_learning_rate=0.002", optional=True)
    finetune_eval_step: int = key(
        None, POSITIVE_INT,
        "validate fine-tuning every this many epochs, with the teacher's patience in epochs "
        "(~: eval_step)", example="--finetune_eval_step=1", optional=True)
    search_epochs: int = key(30, NON_NEGATIVE_INT, "epochs of the adversarial mask search",
                             phase="search")
    search_stopping_step: int = key(
        2, NON_NEGATIVE_INT,
        "stop the search after this many validations (every eval_step epochs) without a new "
        "best (0: run all search_epochs)", phase="search")
    search_learning_rate: float = key(
        0, NON_NEGATIVE,
        "learning rate of the search's student; 0 freezes it at the teacher's weights, so the "
        "search only chooses channels (~: learning_rate)", optional=True, phase="search")
    adv_weight: float = key(0.1, NON_NEGATIVE, "weight of 'fool the discriminator'",
                            phase="search")
    distill_weight: float = key(
        1.0, NON_NEGATIVE, "weight of KL(teacher || student) over sampled item scores",
        phase="search")
    budget_weight: float = key(10.0, NON_NEGATIVE,
                               "pull of the mean keep-probability to 1 - prune_ratio",
                               phase="search")
    generator_lr: float = key(0.01, POSITIVE, "learning rate of the mask generator",
                              phase="search")
    discriminator_lr: float = key(0.001, POSITIVE, "learning rate of the discriminator",
                                  phase="search")
    tau_start: float = key(1.0, POSITIVE, "Gumbel-sigmoid temperature at the search's start",
                           phase="search")
    tau_end: float = key(0.1, POSITIVE, "... and at its end", phase="search")
    n_items_sampled: int = key(
        128, POSITIVE_INT, "items in each user's score profile (search and distillation)",
        phase="distill")

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.metadata["optional"]:
                continue
            rule = f.metadata["rule"]
            if not rule.check(value):
                example = rule.example.format(name=f.name)
                raise ConfigError(f"invalid {f.name}={value!r}: must be {rule.expected} "
                                  f"(e.g. {example})")
        if isinstance(self.teacher_checkpoint, os.PathLike):
            object.__setattr__(self, "teacher_checkpoint", os.fspath(self.teacher_checkpoint))

    @classmethod
    def from_config(cls, config):
        """The settings a RecBole config (or dict) gives: a key it lacks (None) takes the
        default; an optional key's ``~``/``none`` from the command line is None."""
        values = {}
        for f in fields(cls):
            value = config[f.name] if f.name in config else None
            if f.metadata["optional"]:
                if isinstance(value, str) and value.lower() in UNSET:
                    value = None
                values[f.name] = value if value is not None or f.name in config else f.default
            else:
                values[f.name] = f.default if value is None else value
        return cls(**values)

    def as_dict(self):
        return asdict(self)

    @property
    def from_scratch(self):
        """train_small and distill_small: the pruned widths, re-initialised."""
        return self.prune_criterion in FROM_SCRATCH

    @property
    def searches(self):
        """Whether the run searches masks adversarially: gan, and distill_small under the global
        allocation (which trains the widths the gan search allocates from scratch)."""
        return self.prune_criterion == "gan" or (
            self.prune_criterion == "distill_small" and self.prune_allocation == "global")

    def inactive_keys(self):
        """Keys that do not act on a run of this criterion (left out of its cache key)."""
        criterion = self.prune_criterion
        unused_phases = {"search": not self.searches, "taylor": criterion != "taylor",
                         "inherit": self.from_scratch, "distill": criterion == "train_small",
                         "rotation": self.from_scratch and not self.searches,
                         "buckets": self.prune_allocation == "uniform"}
        return tuple(f.name for f in fields(self) if unused_phases.get(f.metadata["phase"]))


def key_names():
    return tuple(f.name for f in fields(PruneSettings))


def markdown_table():
    """The docs' key table: key, default, what a valid value is, what it does."""
    lines = ["| key | default | valid values | meaning |", "|---|---|---|---|"]
    for f in fields(PruneSettings):
        default = "~" if f.default is None else f.default
        lines.append(f"| `{f.name}` | `{default}` | {f.metadata['rule'].expected} | "
                     f"{f.metadata['doc']} |")
    return "\n".join(lines)


def keys_document():
    """``docs/keys.md``, generated from :class:`PruneSettings`."""
    return (
        "# GCNPruneGAN's pruning keys\n\n"
        "Generated from `recbole_gcnprune/settings.py` (`python -m recbole_gcnprune.settings > "
        "docs/keys.md`); a test keeps it current. Set a key as RecBole does: `--key=value` on "
        "the command line, in a yaml file (`--config_files`), or in `config_dict`. `~` unsets "
        "an optional key. The backbone's keys (`embedding_size`, `n_layers`, `reg_weight`, "
        "`ranking_loss`, ...) are in `properties/model/GCNPruneGAN.yaml`.\n\n"
        f"{markdown_table()}\n")


if __name__ == "__main__":
    print(keys_document(), end="")
