"""Hashed user ids: HMAC-SHA256 of a RecBole user token under a secret key read from a file.

The key never enters an export; the manifest keeps only ``key_check`` (an HMAC of a fixed text),
so a wrong key file is told apart from an unknown user. Standard library only.
"""

import hashlib
import hmac

from recbole_gcnprune.serving.errors import KeyFileError

HASH_NAME = "hmac-sha256"
_KEY_CHECK_TEXT = b"recbole-gcnprune export key check"
KEY_HINT = "write a secret into it, e.g. head -c 32 /dev/urandom | base64 > KEYFILE"


def read_key(path):
    """The key in the file at ``path`` (its bytes, surrounding whitespace ignored)."""
    try:
        with open(path, "rb") as f:
            key = f.read().strip()
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} not found: {KEY_HINT}") from None
    except OSError as error:
        raise KeyFileError(f"key file {path} cannot be read ({error.strerror}): pass a "
                           "readable key file") from None
    if not key:
        raise KeyFileError(f"key file {path} is empty: {KEY_HINT}")
    return key


def hash_token(key, token):
    """Hex HMAC-SHA256 of ``token`` (UTF-8) under ``key``."""
    return hmac.new(key, token.encode("utf-8"), hashlib.sha256).hexdigest()


def key_check(key):
    """16 hex digits that tell whether a key is the one an export was hashed with."""
    return hmac.new(key, _KEY_CHECK_TEXT, hashlib.sha256).hexdigest()[:16]
