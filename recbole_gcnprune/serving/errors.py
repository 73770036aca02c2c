"""The one-line errors of exporting and serving (all ``UserInputError``: the CLI exits 2)."""

from recbole_gcnprune.errors import UserInputError

REEXPORT = "re-export it (python run_recbole_prune.py export RUN --out DIR)"


class ExportFolderError(UserInputError):
    """An export folder that cannot be served as it is: a file missing, changed or truncated."""


class UnknownUserError(UserInputError):
    """A user token the export does not hold."""


class KeyFileError(UserInputError):
    """A key file for hashed user ids that is missing, empty or not the export's key."""
