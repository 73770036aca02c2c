"""Errors that reach the user as one line: what is wrong and how to fix it."""


class UserInputError(ValueError):
    """Bad input from the user (config, data, command line); the CLI prints it as one line."""


class ConfigError(UserInputError):
    """An invalid configuration value, rejected when the config is built."""


class DatasetNotFoundError(UserInputError):
    """The dataset's files are absent and cannot be obtained offline."""


class DataFormatError(UserInputError):
    """A data file that cannot be parsed; the message names the file and line."""
