"""What the leaderboard runs, parsed from the command line.

A model spec is a model name plus config overrides, e.g. ``LightGCN`` or
``GCNPruneGAN[prune_criterion=magnitude,prune_ratio=0.75]``; its canonical label (overrides sorted
by key) names its rows. Values are read as in RecBole's ``--key=value`` (Python literals, ``true``/
``false``, else the text itself).
"""

import ast
import hashlib
import re
from dataclasses import dataclass

from recbole_gcnprune.errors import UserInputError

_OPEN, _CLOSE = "[{(", "]})"
_SPEC = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[(.*)\])?\s*$", re.DOTALL)


def parse_value(text):
    """``"0.75"`` -> 0.75, ``"[64,64]"`` -> [64, 64], ``"true"`` -> True, ``"gan"`` -> ``"gan"``."""
    text = text.strip()
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        lowered = text.lower()
        return {"true": True, "false": False}.get(lowered, text)


def format_value(value):
    """The inverse of :func:`parse_value` for labels: ``0.75``, ``gan``, ``[64,64]``."""
    if isinstance(value, str):
        return value
    return repr(value).replace(" ", "")


def split_top_level(text, sep=","):
    """Split ``text`` on ``sep`` outside brackets: ``"a,B[x=1,y=2]"`` -> ``["a", "B[x=1,y=2]"]``."""
    parts, depth, current = [], 0, []
    for char in text:
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth -= 1
            if depth < 0:
                raise UserInputError(f"unbalanced brackets in '{text}'")
        if char == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise UserInputError(f"unbalanced brackets in '{text}'")
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


@dataclass(frozen=True)
class ModelSpec:
    """A model name and its row-specific config overrides (sorted ``(key, value)`` pairs)."""

    model: str
    overrides: tuple = ()

    @property
    def label(self):
        if not self.overrides:
            return self.model
        pairs = ",".join(f"{key}={format_value(value)}" for key, value in self.overrides)
        return f"{self.model}[{pairs}]"

    def config_dict(self):
        return dict(self.overrides)


def _parse_pair(text, spec_text):
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise UserInputError(f"bad override '{text}' in model spec '{spec_text}': use key=value")
    return key.strip(), parse_value(value)


def parse_model_spec(text):
    """``"GCNPruneGAN[prune_ratio=0.75]"`` -> ``ModelSpec("GCNPruneGAN", (("prune_ratio", 0.75),))``."""
    match = _SPEC.match(text)
    if not match:
        raise UserInputError(
            f"bad model spec '{text}': use NAME or NAME[key=value,...] "
            "(e.g. GCNPruneGAN[prune_ratio=0.75])"
        )
    model, inner = match.group(1), match.group(2) or ""
    pairs = dict(_parse_pair(part, text) for part in split_top_level(inner))
    for forbidden in ("model", "seed", "split_seed"):
        if forbidden in pairs:
            raise UserInputError(f"'{forbidden}' cannot be set in a model spec ('{text}')")
    return ModelSpec(model, tuple(sorted(pairs.items())))


def parse_models(text):
    """A comma-separated list of model specs, duplicates (by label) removed, order kept."""
    specs = {}
    for part in split_top_level(text):
        spec = parse_model_spec(part)
        specs.setdefault(spec.label, spec)
    if not specs:
        raise UserInputError("--models is empty: give e.g. --models Pop,BPR,LightGCN")
    return list(specs.values())


def parse_seeds(text):
    """``"2020,2021"`` -> ``[2020, 2021]`` (duplicates removed, order kept)."""
    seeds = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            seed = int(part)
        except ValueError:
            raise UserInputError(f"bad seed '{part}' in --seeds: use integers, e.g. 2020,2021")
        if seed not in seeds:
            seeds.append(seed)
    if not seeds:
        raise UserInputError("--seeds is empty: give e.g. --seeds 2020,2021,2022")
    return seeds


def parse_overrides(args, forbidden=("model", "seed", "split_seed")):
    """``["--epochs=2", "--learning_rate=1e-3"]`` -> ``{"epochs": 2, "learning_rate": 0.001}``."""
    overrides = {}
    for arg in args:
        key, sep, value = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        if not sep or not key:
            raise UserInputError(f"unexpected argument '{arg}': config overrides are --key=value")
        if key in forbidden:
            hint = "--split-seed N" if key == "split_seed" else f"--{key}s"
            raise UserInputError(f"--{key}= does not apply to the leaderboard: use {hint}")
        overrides[key] = parse_value(value)
    return overrides


def row_id(label, seed):
    """A file-name-safe, unique id of one (model spec, seed) row."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-")[:80]
    digest = hashlib.sha1(label.encode("utf-8")).hexdigest()[:8]
    return f"{slug}-seed{seed}-{digest}"
