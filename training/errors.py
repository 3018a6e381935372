"""Errors the user can fix: the command-line tools print them as one line and exit non-zero."""


class UserError(Exception):
    """Bad input: missing or empty data, a bad GloVe file, an output that exists, ..."""
