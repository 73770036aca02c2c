"""Make sure a dataset's atomic files exist before RecBole looks for them.

RecBole's own download path asks ``input()`` for big files and has no network timeout; offline
it would hang or crash deep inside. We check first: atomic files present -> nothing to do; a
converter for this dataset finds its raw dump -> convert once; the dataset is downloadable and the
network answers -> RecBole's normal download; otherwise one clear error.
"""

import os
import socket
from urllib.parse import urlparse

import yaml

from recbole_gcnprune.data import bookcrossing
from recbole_gcnprune.errors import DatasetNotFoundError

# dataset name -> (convert(dataset_dir): True when it produced the atomic files,
#                  hint(dataset_dir): what to put where when it could not)
CONVERTERS = {bookcrossing.DATASET: (bookcrossing.convert_folder, bookcrossing.supply_hint)}


def _has_atomic_files(dataset_dir, dataset_name):
    return os.path.isfile(os.path.join(dataset_dir, f"{dataset_name}.inter"))


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
    name = config["dataset"]
    dataset_dir = config["data_path"]
    if _has_atomic_files(dataset_dir, name):
        return
    convert, hint = CONVERTERS.get(name, (None, None))
    if convert is not None and convert(dataset_dir):
        return
    url = _recbole_url(name)
    if url and _online(url):
        return  # RecBole downloads it (sizes of its benchmark files stay under its 1 GB prompt)
    supply = (hint(dataset_dir) if hint else "put RecBole atomic files there or pass "
              f"--data_path=FOLDER holding a '{name}/' folder")
    raise DatasetNotFoundError(
        f"dataset '{name}' not found: expected {os.path.join(dataset_dir, name + '.inter')} "
        f"({'offline, so it cannot be downloaded' if url else 'RecBole has no download for it'}); "
        + supply
    )
