"""bulk.inputs and bulk.chunks: every format and compression reads the same rows, streamed; what
cannot be read stops the run with a message that names the file, the row and the fix."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bulk.chunks import chunks
from bulk.errors import BulkError
from bulk.inputs import expand, read
from tests.bulk.conftest import reviews, write

# No Ray, no server, nothing timed: beside other tests (tests/conftest.py).
pytestmark = pytest.mark.parallel

ROWS = reviews(50, seed=4)
NAMES = [
    "a.csv",
    "a.tsv",
    "a.jsonl",
    "a.parquet",
    "a.csv.gz",
    "a.jsonl.gz",
    "a.tsv.zst",
    "a.jsonl.zst",
]


def all_rows(path: Path | str, rows: int = 7) -> list[dict]:
    return [r for f in expand(str(path)) for batch in read(f, "text", rows) for r in batch.rows]


@pytest.mark.parametrize("name", NAMES)
def test_every_format_reads_the_same_rows(tmp_path: Path, name: str) -> None:
    assert all_rows(write(tmp_path / name, ROWS)) == ROWS


def test_a_folder_and_a_glob_read_their_files_in_sorted_order(tmp_path: Path) -> None:
    write(tmp_path / "b.jsonl", ROWS[25:])
    write(tmp_path / "a.csv", ROWS[:25])
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / "notes.txt").write_text("not an input")
    assert all_rows(tmp_path) == ROWS
    assert all_rows(tmp_path / "*.*") == ROWS
    assert [f.path.name for f in expand(str(tmp_path / "*.csv"))] == ["a.csv"]


def test_chunks_are_numbered_across_files_and_never_longer_than_a_part(tmp_path: Path) -> None:
    write(tmp_path / "1.csv", ROWS[:13])
    write(tmp_path / "2.parquet", ROWS[13:40])
    write(tmp_path / "3.jsonl", ROWS[40:])
    found = list(chunks(expand(str(tmp_path)), "text", 8))
    assert [c.index for c in found] == list(range(7))
    assert [len(c.rows) for c in found] == [8] * 6 + [2]
    assert [r for c in found for r in c.rows] == ROWS
    assert "1.csv rows 9-13" in found[1].where and "2.parquet rows 1-3" in found[1].where
    assert found[2].arrow is not None and found[2].arrow.to_pylist() == found[2].rows
    assert found[1].arrow is None  # part CSV: typed by pyarrow when written, if at all


def message(path: Path, text_column: str = "text") -> str:
    with pytest.raises(BulkError) as failed:
        [r for f in expand(str(path)) for batch in read(f, text_column, 5) for r in batch.rows]
    return str(failed.value)


def test_a_missing_column_names_the_file_its_columns_and_the_flag(tmp_path: Path) -> None:
    for name in ("a.csv", "a.parquet", "a.jsonl"):
        said = message(write(tmp_path / name, ROWS), "body")
        assert str(tmp_path / name) in said and "'id', 'text'" in said and "--text-column" in said


def test_a_broken_row_names_the_file_the_row_and_the_fix(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text('id,text\n1,"good"\n2,"a, b",extra\n')
    said = message(bad)
    assert f"{bad}, row 2 (line 3)" in said and "quote a field" in said
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"id,text\n1,ok\n2,caf\xe9\n")
    assert f"{latin}, line 3: not UTF-8" in message(latin) and "iconv" in message(latin)
    lines = tmp_path / "bad.jsonl"
    lines.write_text('{"text": "fine"}\n\n{"text": oops}\n')
    assert f"{lines}, line 3: not JSON" in message(lines)
    lines.write_text('{"text": "fine"}\n["text"]\n')
    assert f"{lines}, line 2: a JSON list, not an object" in message(lines)


def test_unreadable_files_say_so(tmp_path: Path) -> None:
    assert "no such file" in message(tmp_path / "absent.csv")
    (tmp_path / "a.csv.gz").write_bytes(b"not gzip at all")
    assert "cannot be read" in message(tmp_path / "a.csv.gz")
    (tmp_path / "a.parquet").write_bytes(b"not parquet")
    assert "not a Parquet file" in message(tmp_path / "a.parquet")
    (tmp_path / "a.xlsx").write_bytes(b"")
    assert ".csv, .tsv, .jsonl or .parquet" in message(tmp_path / "a.xlsx")
    (tmp_path / "empty.csv").write_text("")
    assert "header row" in message(tmp_path / "empty.csv")


def test_a_lone_surrogate_in_json_is_read_so_that_its_row_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"text": "bad \\ud800 text"}\n{"text": 5}\n{"id": 1}\n')
    assert all_rows(path) == [{"text": "bad \ud800 text"}, {"text": 5}, {"id": 1}]


def test_a_missing_optional_package_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zst, parquet = write(tmp_path / "a.csv.zst", ROWS), write(tmp_path / "a.parquet", ROWS)
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import fails, as when not installed
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    assert "pip install 'sentiment-service[bulk]'" in message(zst)
    assert "zstandard" in message(zst) and "pyarrow" in message(parquet)
