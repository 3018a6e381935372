"""What a run tells its user: a progress line while it runs (rows, rows/s, share of the input,
ETA) on a terminal, and a summary at the end (rows scored, rows refused by reason, time).

The line goes to stderr, at most five times a second, and only when stderr is a terminal and
--quiet is not given; the output may be stdout. The share of the input is of its bytes on disk
(compressed bytes for .gz and .zst files), known without reading the input twice; the ETA
assumes the rest reads at the rate so far.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any

REFRESH_S = 0.2


@dataclass
class Tally:
    """What a run did, for the summary (and --summary-json)."""

    rows: int = 0  # rows this run wrote (scored or refused)
    refused: Counter[str] = field(default_factory=Counter)  # error code -> rows
    skipped: int = 0  # rows an interrupted run had already written (--resume)
    seconds: float = 0.0  # from the model being ready to the output being complete
    started: float = field(default_factory=time.perf_counter)

    def add(self, added: dict[str, list]) -> None:
        self.rows += len(added["error"])
        self.refused.update(code for code in added["error"] if code is not None)

    @property
    def scored(self) -> int:
        return self.rows - sum(self.refused.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "scored": self.scored,
            "refused": dict(sorted(self.refused.items())),
            "skipped_as_done": self.skipped,
            "seconds": round(self.seconds, 3),
            "rows_per_s": round(self.rows / self.seconds, 1) if self.seconds else None,
            "peak_rss_mib": peak_rss_mib(),
        }

    def lines(self) -> list[str]:
        rate = f" ({self.rows / self.seconds:,.0f} rows/s)" if self.seconds else ""
        out = [f"{self.rows:,} rows in {_clock(self.seconds)}{rate}: {self.scored:,} scored"]
        if self.refused:
            reasons = ", ".join(f"{n:,} {code}" for code, n in self.refused.most_common())
            out.append(f"{sum(self.refused.values()):,} refused: {reasons}")
        if self.skipped:
            out.append(f"{self.skipped:,} rows were already done by the interrupted run")
        return out


class Progress:
    def __init__(self, total_bytes: int, enabled: bool, stream: IO[str] = sys.stderr) -> None:
        self.total = max(1, total_bytes)
        self.enabled = enabled
        self.stream = stream
        self.started = time.perf_counter()
        self.last = 0.0
        self.shown = False

    @classmethod
    def for_terminal(cls, total_bytes: int, quiet: bool) -> Progress:
        return cls(total_bytes, enabled=not quiet and sys.stderr.isatty())

    def update(self, rows: int, bytes_read: int) -> None:
        now = time.perf_counter()
        if not self.enabled or now - self.last < REFRESH_S:
            return
        self.last = now
        elapsed = now - self.started
        share = min(1.0, bytes_read / self.total)
        eta = elapsed * (1 - share) / share if share > 0 else None
        line = (
            f"{rows:,} rows  {rows / elapsed if elapsed else 0:,.0f} rows/s  {share:.0%}  "
            f"ETA {_clock(eta) if eta is not None else '?'}"
        )
        self.stream.write(f"\r{line:<60}")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def peak_rss_mib() -> float | None:
    """This process's peak resident memory so far (what to size a machine or an actor by)."""
    try:
        import resource
    except ImportError:  # not on Unix
        return None
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return round(kib / 1024, 1)


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
