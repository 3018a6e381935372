"""The one exception of bulk scoring that a user can fix: its message names the file, the row
where there is one, and what to do. `sentiment-score` prints it as one line and exits 2."""

from __future__ import annotations


class BulkError(Exception):
    """A run that cannot go on (an unreadable file, a missing column, an output in the way)."""


def needs(package: str, extra: str, what: str) -> BulkError:
    """The error for an optional package that is not installed."""
    return BulkError(
        f"{what} needs the {package} package, which a plain install leaves out: "
        f"pip install 'sentiment-service[{extra}]'"
    )
