from pathlib import Path

import pytest

from tests import synthetic
from training.data import (
    Review,
    has_split,
    load_split,
    star_rating,
    stratified_split,
    summarise,
    targets,
)
from training.errors import UserError

SPLITS = {"train": synthetic.reviews(10, seed=1), "test": synthetic.reviews(6, seed=2)}


def texts(reviews: list) -> list[tuple[str, int]]:
    return sorted((r.text, r.label) for r in reviews)


@pytest.mark.parametrize("nested", [True, False])
def test_aclimdb_folder(tmp_path: Path, nested: bool) -> None:
    base = synthetic.write_aclimdb(tmp_path, SPLITS)
    source = tmp_path if nested else base  # the folder holding aclImdb/, or aclImdb/ itself
    assert texts(load_split([source], "train")) == sorted(SPLITS["train"])
    assert texts(load_split([source], "test")) == sorted(SPLITS["test"])


@pytest.mark.parametrize("name", ["imdb.tar.gz", "imdb.tar.xz", "imdb.tar"])
def test_aclimdb_tarball(tmp_path: Path, name: str) -> None:
    tar = synthetic.write_aclimdb_tar(tmp_path / name, SPLITS)
    reviews = load_split([tar], "train")
    assert texts(reviews) == sorted(SPLITS["train"])
    assert reviews[0].key.startswith("train/neg/")


@pytest.mark.parametrize("layout", ["folder", "tarball"])
def test_star_ratings_soften_the_targets_of_mild_reviews(tmp_path: Path, layout: str) -> None:
    splits = {"train": synthetic.reviews(6, seed=1)}
    if layout == "folder":
        source = synthetic.write_aclimdb(tmp_path, splits, stars=(4, 7))
    else:
        source = synthetic.write_aclimdb_tar(tmp_path / "a.tar.gz", splits, stars=(4, 7))
    reviews = load_split([source], "train")
    assert [star_rating(r) for r in reviews] == [4, 4, 4, 7, 7, 7]
    assert targets(reviews, 0.2).tolist() == pytest.approx([0.2] * 3 + [0.8] * 3)
    assert targets(reviews).tolist() == [0, 0, 0, 1, 1, 1]  # no softness: the labels


def test_star_softness_grows_linearly_from_the_extremes() -> None:
    keys = ["neg/0_1", "neg/0_2", "neg/0_3", "neg/0_4", "pos/0_7", "pos/0_8", "pos/0_9", "pos/0_10"]
    reviews = [Review("t", int(k.startswith("pos")), f"train/{k}.txt") for k in keys]
    expected = [0, 0.1, 0.2, 0.3, 0.7, 0.8, 0.9, 1]
    assert targets(reviews, 0.3).tolist() == pytest.approx(expected)
    table_row = Review("t", 1, "train:r.csv:000000002")  # a table has no stars: its label stays
    assert star_rating(table_row) is None and targets([table_row], 0.3).tolist() == [1.0]


def test_separate_train_and_test_archives_combine(tmp_path: Path) -> None:
    train = synthetic.write_aclimdb_tar(tmp_path / "train.tar.xz", {"train": SPLITS["train"]})
    test = synthetic.write_aclimdb_tar(tmp_path / "test.tar.xz", {"test": SPLITS["test"]})
    assert has_split([train], "train") and not has_split([train], "test")
    assert texts(load_split([train, test], "test")) == sorted(SPLITS["test"])


def test_folder_and_tarball_give_identical_data(tmp_path: Path) -> None:
    synthetic.write_aclimdb(tmp_path / "dir", SPLITS)
    tar = synthetic.write_aclimdb_tar(tmp_path / "a.tar.gz", SPLITS)
    assert summarise(load_split([tmp_path / "dir"], "train")) == summarise(
        load_split([tar], "train")
    )


@pytest.mark.parametrize("writer", [synthetic.write_csv, synthetic.write_jsonl])
def test_csv_and_jsonl(tmp_path: Path, writer) -> None:
    suffix = ".csv" if writer is synthetic.write_csv else ".jsonl"
    rows = [("good film", "pos"), ("bad film", "negative"), ("fine", 1), ("meh", "0"), ("   ", 1)]
    path = writer(tmp_path / f"reviews{suffix}", rows)
    reviews = load_split([path], "train")
    assert texts(reviews) == sorted([("good film", 1), ("bad film", 0), ("fine", 1), ("meh", 0)])


def test_folder_of_tables(tmp_path: Path) -> None:
    synthetic.write_csv(tmp_path / "train.csv", SPLITS["train"])
    synthetic.write_jsonl(tmp_path / "test.jsonl", SPLITS["test"])
    assert texts(load_split([tmp_path], "test")) == sorted(SPLITS["test"])
    assert has_split([tmp_path], "test")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("good", "maybe")], r"reviews.csv:2: label 'maybe'"),
        ([("good", "")], "label ''"),
    ],
)
def test_bad_labels_name_the_line(tmp_path: Path, rows: list, message: str) -> None:
    with pytest.raises(UserError, match=message):
        load_split([synthetic.write_csv(tmp_path / "reviews.csv", rows)], "train")


def test_csv_without_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("review,sentiment\ngood,1\n")
    with pytest.raises(UserError, match="'text' and 'label'"):
        load_split([path], "train")


def test_broken_jsonl_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"text": "a", "label": 1}\n{not json\n')
    with pytest.raises(UserError, match="x.jsonl:2"):
        load_split([path], "train")


def test_missing_and_empty_sources(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file"):
        load_split([tmp_path / "nope"], "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no train reviews found"):
        load_split([tmp_path / "empty"], "train")


def test_unreadable_archive(tmp_path: Path) -> None:
    bad = tmp_path / "broken.tar.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(UserError, match="broken.tar.gz: cannot read"):
        load_split([bad], "train")


def test_one_class_is_refused(tmp_path: Path) -> None:
    path = synthetic.write_csv(tmp_path / "pos.csv", [("good", 1), ("great", 1)])
    with pytest.raises(UserError, match="only positive"):
        load_split([path], "train")


def test_stratified_split_is_seeded_disjoint_and_balanced(tmp_path: Path) -> None:
    reviews = load_split([synthetic.write_csv(tmp_path / "r.csv", synthetic.reviews(200))], "train")
    train, val = stratified_split(reviews, 0.1, seed=7)
    assert len(val) == 20 and sum(r.label for r in val) == 10
    assert not {r.key for r in train} & {r.key for r in val}
    assert len(train) + len(val) == 200
    assert stratified_split(reviews, 0.1, seed=7) == (train, val)
    assert stratified_split(reviews, 0.1, seed=8)[1] != val


def test_split_fraction_must_be_sensible(tmp_path: Path) -> None:
    reviews = load_split([synthetic.write_csv(tmp_path / "r.csv", synthetic.reviews(4))], "train")
    with pytest.raises(UserError, match="between 0 and 1"):
        stratified_split(reviews, 1.5, seed=0)
    with pytest.raises(UserError, match="too few"):
        stratified_split(reviews, 0.9, seed=0)


def id_runs(reviews: list) -> int:
    """How many runs of consecutive ids the reviews of one class form."""
    ids = sorted(int(r.key.split("/")[-1].split("_")[0]) for r in reviews)
    return 1 + sum(1 for a, b in zip(ids, ids[1:], strict=False) if b != a + 1)


def test_aclimdb_validation_takes_whole_blocks_of_consecutive_ids(tmp_path: Path) -> None:
    """IMDB numbers one movie's reviews consecutively: blocks keep a movie on one side."""
    rows = synthetic.reviews(2000, seed=3)
    by_class = [r for r in rows if r[1] == 1] + [
        r for r in rows if r[1] == 0
    ]  # ids 0-999 pos, then neg
    synthetic.write_aclimdb(tmp_path, {"train": by_class})
    reviews = load_split([tmp_path], "train")
    train, val = stratified_split(reviews, 0.1, seed=1, grouping="auto")
    assert len(val) == 200 and sum(r.label for r in val) == 100
    for label in (0, 1):
        assert id_runs([r for r in val if r.label == label]) <= 5  # five blocks of 20 ids
    _, random_val = stratified_split(reviews, 0.1, seed=1, grouping="random")
    assert id_runs([r for r in random_val if r.label == 1]) > 50
    assert stratified_split(reviews, 0.1, seed=1, grouping="auto") == (train, val)


def test_auto_grouping_draws_single_reviews_from_tables(tmp_path: Path) -> None:
    reviews = load_split([synthetic.write_csv(tmp_path / "r.csv", synthetic.reviews(400))], "train")
    assert stratified_split(reviews, 0.1, 2, "auto") == stratified_split(reviews, 0.1, 2, "random")
    with pytest.raises(UserError, match="grouping"):
        stratified_split(reviews, 0.1, 2, "by-movie")
