"""Make sure a dataset's atomic files exist before RecBole looks for them.

RecBole's own download path asks ``input()`` for big files and has no network timeout; offline
it would hang or crash deep inside. We check first: every file RecBole will read is present ->
nothing to do; a converter for this dataset finds its raw dump -> convert once; the folder is
absent, the dataset is downloadable and the network answers -> RecBole's normal download;
otherwise one clear error.

The files RecBole 1.2.1 reads (``Dataset._load_data``): ``NAME.inter``, or with
``benchmark_filename: [train, valid, test]`` the pre-split ``NAME.train.inter``,
``NAME.valid.inter`` and ``NAME.test.inter`` instead; ``NAME.user``/``NAME.item`` when present;
``NAME.SUFFIX`` for every ``additional_feat_suffix``; ``NAME.kg`` and ``NAME.link`` for
knowledge-aware models. It downloads only into a folder that does not exist yet.
"""

import glob
import os
import socket
from urllib.parse import urlparse

import yaml
from recbole.utils import ModelType

from recbole_gcnprune.data import bookcrossing
from recbole_gcnprune.errors import ConfigError, DatasetNotFoundError

# dataset name -> (convert(dataset_dir): True when it produced the atomic files,
#                  hint(dataset_dir): what to put where when it could not)
CONVERTERS = {bookcrossing.DATASET: (bookcrossing.convert_folder, bookcrossing.supply_hint)}
BENCHMARK_EXAMPLE = "benchmark_filename: [train, valid, test]"


def _value(config, key):
    """``config[key]``, or None when the config (ours, RecBole's or a dict) lacks it."""
    return config[key] if key in config else None


def benchmark_parts(config):
    """The parts of ``benchmark_filename`` (e.g. ``['train', 'valid', 'test']``), or None."""
    parts = _value(config, "benchmark_filename")
    if parts is None or (isinstance(parts, (list, tuple)) and parts):
        return parts
    raise ConfigError(f"invalid benchmark_filename={parts!r}: must be a non-empty list (e.g. "
                      f"{BENCHMARK_EXAMPLE} in a yaml file, or "
                      "--benchmark_filename=\"['train','valid','test']\")")


def interaction_files(name, parts):
    """The interaction files RecBole reads: ``NAME.inter``, or one ``NAME.PART.inter`` a part."""
    return [f"{name}.inter"] if parts is None else [f"{name}.{part}.inter" for part in parts]


def side_files(config, name):
    """The other files RecBole requires: one per ``additional_feat_suffix``, and ``.kg`` and
    ``.link`` for knowledge-aware models (``.user`` and ``.item`` are optional)."""
    files = [f"{name}.{suffix}" for suffix in _value(config, "additional_feat_suffix") or []]
    if _value(config, "MODEL_TYPE") == ModelType.KNOWLEDGE:
        files += [f"{name}.kg", f"{name}.link"]
    return files


def _missing(dataset_dir, files):
    return [f for f in files if not os.path.isfile(os.path.join(dataset_dir, f))]


def _recbole_url(dataset_name):
    import recbole

    url_file = os.path.join(os.path.dirname(recbole.__file__), "properties", "dataset", "url.yaml")
    with open(url_file, encoding="utf-8") as f:
        return (yaml.safe_load(f) or {}).get(dataset_name)


def _online(url, timeout=3.0):
    host = urlparse(url).hostname
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_dataset_files(config):
    """Raise :class:`DatasetNotFoundError` unless RecBole can load ``config['dataset']``."""
    name, dataset_dir = config["dataset"], config["data_path"]
    parts = benchmark_parts(config)
    required = interaction_files(name, parts) + side_files(config, name)
    missing = _missing(dataset_dir, required)
    if not missing:
        return
    convert, hint = CONVERTERS.get(name, (None, None))
    if (convert is not None and f"{name}.inter" in missing and convert(dataset_dir)
            and not _missing(dataset_dir, required)):
        return
    url = _recbole_url(name)
    if url and not os.path.exists(dataset_dir) and _online(url):
        return  # RecBole downloads it (sizes of its benchmark files stay under its 1 GB prompt)
    raise DatasetNotFoundError(
        f"dataset '{name}' not found: {_expected(config, parts)} ({_why(url, dataset_dir)}); "
        + _fix(name, dataset_dir, parts, hint))


def _expected(config, parts):
    """What is missing where: both interaction layouts when neither is there, the missing
    pre-split files under ``benchmark_filename``, else the missing side files."""
    name, dataset_dir = config["dataset"], config["data_path"]
    inter = interaction_files(name, parts)
    if parts is None and _missing(dataset_dir, inter):
        train, *others = interaction_files(name, ["train", "valid", "test"])
        return (f"expected {os.path.join(dataset_dir, inter[0])}, or "
                f"{os.path.join(dataset_dir, train)}, {', '.join(others)} with {BENCHMARK_EXAMPLE}")
    if _missing(dataset_dir, inter):
        return (f"missing {_paths(dataset_dir, _missing(dataset_dir, inter))}, read with "
                f"benchmark_filename: [{', '.join(map(str, parts))}]")
    return (f"missing {_paths(dataset_dir, _missing(dataset_dir, side_files(config, name)))}, "
            "read for additional_feat_suffix or by a knowledge-aware model")


def _paths(dataset_dir, files):
    return ", ".join(os.path.join(dataset_dir, f) for f in files)


def _why(url, dataset_dir):
    if not url:
        return "RecBole has no download for it"
    if os.path.exists(dataset_dir):
        return "RecBole downloads only into a folder that does not exist yet"
    return "offline, so it cannot be downloaded"


def _fix(name, dataset_dir, parts, hint):
    """Select pre-split files already there, else the converter's hint, else the general one."""
    found = pre_split_parts(name, dataset_dir)
    if parts is None and found:
        return (f"{', '.join(interaction_files(name, found))} are there: set benchmark_filename: "
                f"[{', '.join(found)}]")
    if parts is not None:
        return "put the missing files there, or list only the parts there in benchmark_filename"
    if hint is not None:
        return hint(dataset_dir)
    return f"put RecBole atomic files there or pass --data_path=FOLDER holding a '{name}/' folder"


def pre_split_parts(name, dataset_dir):
    """The parts of the ``NAME.PART.inter`` files in ``dataset_dir``: train, valid, test first."""
    pattern = os.path.join(glob.escape(dataset_dir), f"{glob.escape(name)}.*.inter")
    parts = [os.path.basename(f)[len(name) + 1:-len(".inter")] for f in glob.glob(pattern)]
    order = {"train": 0, "valid": 1, "test": 2}
    return sorted(parts, key=lambda part: (order.get(part, len(order)), part))
