"""Errors that carry a message meant for the user, not a traceback."""


class UsageError(ValueError):
    """Bad input the user can fix: the CLI prints the message and exits with code 2."""
