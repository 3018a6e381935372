"""What sentiment-train and sentiment-evaluate share: a parser with --version whose help shows
every default that applies, and the way a command ends.

A command's module builds its parser with no heavier import than the settings (no torch, spaCy
or numpy), so --help and --version answer at once; the command itself imports what it needs
when it runs. Errors the user can fix (UserError, ArtifactError) end it with one line on stderr
and exit status 2; Ctrl-C with 130 and a hint to resume.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

from training.errors import UserError

PACKAGE = "sentiment-service"


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's default after its help, except where it would say nothing true: a required
    flag, a switch (off unless given), and a default of None or empty, whose help says what
    applies instead."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        default = action.default
        if action.required or default is None or default is False or default in ("", [], ()):
            return action.help
        return super()._get_help_string(action)


def package_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=DefaultsFormatter
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    return p


def run_command(
    p: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace], None],
    argv: Sequence[str] | None,
) -> int:
    """Parse `argv`, run the command, and turn its end into an exit status."""
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    from model.artifact import ArtifactError  # torch: only once a command runs

    try:
        run(args)
    except (UserError, ArtifactError) as exc:
        print(f"{p.prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"{p.prog}: interrupted; continue with the same command and --resume", file=sys.stderr
        )
        return 130
    return 0
