"""Integrated Gradients on a tiny trained artifact: Captum's definition, completeness, the score of
/predict, spans in the text as sent, and old artifacts refused."""

from __future__ import annotations

import dataclasses
import random
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import torch

import model.attribution as attribution_module
from model import SentimentModel, bundled_model_path, load_artifact
from model.attribution import Explainer, quadrature, supports_explanations
from model.cleaning import INVISIBLE
from tests import synthetic
from tests.legacy import forward_only_artifact

GOOD = "A wonderful, superb film."
MIXED = "The plot was dull and tedious<br /><br />but the cast is brilliant and moving."


@pytest.fixture(scope="module")
def explainer(tiny_artifact: Path) -> Explainer:
    return Explainer(load_artifact(tiny_artifact), steps=32)


def test_quadrature_integrates_polynomials_exactly() -> None:
    points, weights = quadrature(8)
    assert np.all((points > 0) & (points < 1)) and weights.sum() == pytest.approx(1.0)
    for degree in range(16):  # Gauss-Legendre with n points: exact up to degree 2n - 1
        assert (weights * points**degree).sum() == pytest.approx(1 / (degree + 1))
    with pytest.raises(ValueError, match="at least one step"):
        quadrature(0)


def test_attributions_are_captums_integrated_gradients(explainer: Explainer) -> None:
    from captum.attr import IntegratedGradients

    program = explainer.program
    ids = torch.tensor([explainer.prepare(MIXED).ids])
    lengths = torch.tensor([ids.size(1)])
    embedded = program.embedding(ids).detach()

    def logit(x: torch.Tensor) -> torch.Tensor:
        return program.classify(x, lengths.expand(x.size(0)))

    theirs, delta = IntegratedGradients(logit).attribute(
        embedded,
        baselines=torch.zeros_like(embedded),
        n_steps=32,
        method="gausslegendre",
        return_convergence_delta=True,
    )
    ours = explainer.explain(MIXED)
    assert ours.attributions == pytest.approx(theirs.sum(dim=2)[0].tolist(), abs=1e-4)
    assert ours.delta == pytest.approx(float(delta), abs=1e-4)


def test_attributions_sum_to_the_logit_difference(explainer: Explainer) -> None:
    rng = random.Random(4)
    texts = [GOOD, MIXED] + [synthetic.review(i % 2, rng, length=12) for i in range(6)]
    for text in texts:
        e = explainer.explain(text)
        assert e.delta == pytest.approx(sum(e.attributions) - (e.logit - e.baseline_logit))
        assert abs(e.delta) <= e.tolerance, (text, e.delta)
        assert e.tolerance == pytest.approx(0.05 + 0.01 * abs(e.logit - e.baseline_logit))


def test_more_steps_shrink_the_completeness_error(tiny_artifact: Path) -> None:
    artifact = load_artifact(tiny_artifact)
    fixed = [Explainer(artifact, steps=n, max_evaluations=n) for n in (2, 8, 64)]
    errors = [abs(explainer.explain(MIXED).delta) for explainer in fixed]
    assert errors[2] < errors[0] and errors[2] < 0.02, errors


class Jump(torch.nn.Module):
    """A program whose logit along the path from the baseline is 4 * sigmoid(400 (alpha - 1/4)):
    every word's embedding is 1, so the mean of the path's embeddings is alpha. The logit rises
    by about 4 within 1% of the path, which evenly spread points cannot integrate, whatever the
    CPU's rounding."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab_size, 4, padding_idx=0)
        with torch.no_grad():
            self.embedding.weight.fill_(1.0)
            self.embedding.weight[0].zero_()

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embedding(ids), lengths)

    @torch.jit.export
    def classify(self, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        alpha = embedded.mean(dim=(1, 2))  # [batch]
        return 4.0 * torch.sigmoid(400.0 * (alpha - 0.25))


def test_a_jump_on_the_path_is_found_by_refining_where_the_error_is(tiny_artifact: Path) -> None:
    tiny = load_artifact(tiny_artifact)
    program = torch.jit.script(Jump(len(tiny.vocab)))
    artifact = dataclasses.replace(tiny, program=program)
    text = "Superb plot, dull end."
    fixed = Explainer(artifact, steps=32, max_evaluations=32).explain(text)
    refined = Explainer(artifact, steps=32).explain(text)
    assert abs(fixed.delta) > 10 * fixed.tolerance and fixed.evaluations == 32
    assert abs(refined.delta) <= refined.tolerance, refined.delta
    assert 32 < refined.evaluations <= 8 * 32
    assert (refined.logit, refined.baseline_logit) == (fixed.logit, fixed.baseline_logit)


def test_the_score_is_the_one_predict_gives(explainer: Explainer, tiny_artifact: Path) -> None:
    texts = [GOOD, MIXED, "dull"]
    scores = SentimentModel.load(tiny_artifact).predict(texts)
    assert [explainer.explain(t).score for t in texts] == pytest.approx(scores, abs=1e-5)


def test_the_words_that_decide_carry_the_largest_attributions(explainer: Explainer) -> None:
    e = explainer.explain("the film was superb and the actors wonderful")
    by_token = dict(zip(e.tokens, e.attributions, strict=True))
    assert e.score > 0.5
    assert max(by_token, key=by_token.__getitem__) in synthetic.POSITIVE


def read_back(text: str, span: tuple[int, int]) -> str:
    """The characters of a span as the pipeline reads them: visible, NFC, lower case."""
    return unicodedata.normalize("NFC", INVISIBLE.sub("", text[span[0] : span[1]])).lower()


@pytest.mark.parametrize(
    "text",
    [
        "Superb<br />film<BR>and <p>dull</p> end",
        "Cafe\u0301 crème brûle\u0301e was wonderful",  # combining accents: NFC shortens them
        "great 😀👍🏽 film 🎬!",  # astral code points, a skin-tone modifier
        "zero\u200bwidth soft\u00adhyphen film",  # invisible characters inside words
    ],
)
def test_spans_index_the_text_as_sent(explainer: Explainer, text: str) -> None:
    e = explainer.explain(text)
    assert e.skipped is None and len(e.tokens) == len(e.spans) == len(e.attributions)
    ends = [0]
    for token, span in zip(e.tokens, e.spans, strict=True):
        assert span[0] >= ends[-1] and span[1] > span[0]
        assert read_back(text, span) == token, (token, span, text[span[0] : span[1]])
        ends.append(span[1])


def test_the_part_past_the_token_limit_is_reported_as_not_read(explainer: Explainer) -> None:
    limit = explainer.artifact.text_config.max_tokens  # 64 for the tiny artifact
    words = [f"{synthetic.FILLER[i % 16]}" for i in range(200)]
    text = "Wonderful<br />" + " ".join(words) + " 😀 dull end."
    e = explainer.explain(text)
    assert len(e.tokens) == limit and e.skipped is not None
    start, end = e.skipped
    head = [s for s in e.spans if s[1] <= start]
    tail = [s for s in e.spans if s[0] >= end]
    assert len(head) + len(tail) == limit and head and tail
    assert text[e.spans[-1][0] : e.spans[-1][1]] == "." and "😀" in text[tail[0][0] :]
    for token, span in zip(e.tokens, e.spans, strict=True):
        assert read_back(text, span) == token


def test_a_text_without_tokens_is_one_unknown_with_an_empty_span(explainer: Explainer) -> None:
    e = explainer.explain("<br /><br />")
    assert e.tokens == [""] and e.spans == [(0, 0)] and e.unknown == [True]
    assert abs(e.delta) <= e.tolerance


def test_long_texts_run_in_several_passes_with_the_same_result(
    explainer: Explainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = explainer.explain(MIXED)
    monkeypatch.setattr(attribution_module, "MAX_POSITIONS_PER_PASS", 20)  # 1 step per pass
    split = explainer.explain(MIXED)
    assert split.attributions == pytest.approx(whole.attributions, abs=1e-5)


def test_artifacts_without_classify_are_refused(tiny_artifact: Path, tmp_path: Path) -> None:
    old = load_artifact(forward_only_artifact(tiny_artifact, tmp_path / "old"))
    assert not supports_explanations(old.program)
    assert old.program(*[torch.tensor([[5, 6]]), torch.tensor([2])]).shape == (1,)
    explainer = Explainer(old, steps=4)
    assert not explainer.supported
    with pytest.raises(RuntimeError, match="no classify"):
        explainer.explain("a wonderful film")


@pytest.mark.skipif(not bundled_model_path().is_dir(), reason="no bundled model in this checkout")
def test_the_bundled_model_is_explainable_exactly_when_it_exports_classify() -> None:
    program = load_artifact(bundled_model_path()).program
    assert supports_explanations(program) == hasattr(program, "classify")
