"""The progress line (rows, rows/s, share of the input, ETA) and the summary's words."""

from __future__ import annotations

import io
import re

import pytest

from bulk import progress
from bulk.progress import Progress, Tally


def test_the_progress_line_shows_rows_rate_share_and_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    now = iter([100.0, 110.0, 110.1, 120.0])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(now))
    stream = io.StringIO()
    bar = Progress(total_bytes=1000, enabled=True, stream=stream)  # started at 100 s
    bar.update(rows=500, bytes_read=250)  # at 110 s: a quarter in 10 s, 30 s to go
    bar.update(rows=501, bytes_read=251)  # 0.1 s later: not drawn again
    bar.close()
    line = stream.getvalue()
    assert line.count("\r") == 1 and line.endswith("\n")
    assert re.search(r"500 rows\s+50 rows/s\s+25%\s+ETA 0:00:30", line), line


def test_off_it_writes_nothing() -> None:
    stream = io.StringIO()
    bar = Progress(total_bytes=10, enabled=False, stream=stream)
    bar.update(5, 5)
    bar.close()
    assert stream.getvalue() == ""


def test_the_summary_counts_refusals_by_reason() -> None:
    tally = Tally(skipped=7, seconds=2.0)
    tally.add({"error": [None, "empty_text", None, "text_too_long", "empty_text"]})
    assert tally.lines() == [
        "5 rows in 0:00:02 (2 rows/s): 2 scored",
        "3 refused: 2 empty_text, 1 text_too_long",
        "7 rows were already done by the interrupted run",
    ]
    said = tally.as_dict()
    assert said["refused"] == {"empty_text": 2, "text_too_long": 1} and said["rows_per_s"] == 2.5
    assert said["peak_rss_mib"] > 0
