from model.drift import SCORE_BUCKETS, reference, unknown_share


def test_unknown_share() -> None:
    assert unknown_share([1, 5, 1, 7]) == 0.5 and unknown_share([]) == 0.0


def test_reference_histograms_are_cumulative_like_prometheus() -> None:
    ref = reference([0.02, 0.5, 0.97, 0.6], [0.0, 0.1, 0.0, 0.5], [5, 100, 900, 40], "validation")
    assert ref["texts"] == 4 and ref["positive_share"] == 0.75
    scores = ref["scores"]
    assert scores["le"] == list(SCORE_BUCKETS) and scores["count"] == 4
    assert scores["cumulative_counts"][0] == 1 and scores["cumulative_counts"][-1] == 4
    assert scores["cumulative_counts"] == sorted(scores["cumulative_counts"])
    assert ref["unknown_share"]["cumulative_counts"][0] == 2  # le 0.0: texts without <unk>
    assert ref["tokens"]["mean"] == 261.25
