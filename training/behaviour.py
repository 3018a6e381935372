"""A behavioural test suite for sentiment (after CheckList, Ribeiro et al., ACL 2020): what a
model should get right about the way people write, whatever its accuracy on reviews.

Three kinds of test, each made from templates and word lists of this module's own:
  * minimum functionality (MFT): short texts whose label is plain to any reader ("I hated this
    film.", "The service was not bad."); a case fails when the predicted label differs;
  * invariance (INV): a change that must not matter (a name, a place, a number, a typo, the
    case of the letters); a case fails when the label flips;
  * directional (DIR): a change that must move the score one way (an intensifier, an added
    opinion); a case fails when the score moves the other way by more than TOLERANCE.

The suite is a test, never training material: none of its sentences, and nothing generated from
its templates or word lists, may train or calibrate a model or tune its hyperparameters. It may
only decide whether a finished candidate is bundled (MODEL_CARD.md). Nothing in training imports
it (tests/training/test_behaviour.py checks).

Cases are drawn with a fixed seed, so the suite is the same on every run: `sentiment-evaluate
--behaviour` prints each test's failure rate and a few failing cases.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

TOLERANCE = 0.1  # a DIR case fails when the score moves the wrong way by more than this
CASES_PER_TEST = 60
SEED = 20261207

# Things people review, with the words for them.
DOMAINS = {
    "film": ["film", "movie", "plot", "ending", "cast", "script", "soundtrack"],
    "product": ["phone", "charger", "headset", "blender", "laptop", "battery", "case"],
    "restaurant": ["food", "pasta", "soup", "dessert", "pizza", "steak", "menu"],
    "service": ["service", "staff", "delivery", "support", "hotel", "room", "driver"],
}
NOUNS = [noun for nouns in DOMAINS.values() for noun in nouns]
POSITIVE_ADJ = [
    "good", "great", "excellent", "wonderful", "fantastic", "amazing", "brilliant",
    "delightful", "superb", "lovely", "enjoyable", "impressive", "outstanding", "pleasant",
]  # fmt: skip
NEGATIVE_ADJ = [
    "bad", "terrible", "awful", "horrible", "poor", "disappointing", "dreadful", "boring",
    "mediocre", "lousy", "annoying", "useless", "unpleasant", "bland",
]  # fmt: skip
POSITIVE_VERB = ["loved", "enjoyed", "liked", "adored", "appreciated", "admired", "recommend"]
NEGATIVE_VERB = ["hated", "disliked", "regret", "despised", "detested", "loathed", "resent"]
INTENSIFIERS = ["very", "really", "extremely", "incredibly", "truly", "absolutely"]
DOWNTONERS = ["somewhat", "slightly", "fairly", "a little", "kind of"]
NAMES = ["Maria", "John", "Aisha", "Kenji", "Olga", "Pedro", "Fatima", "Liam", "Mei", "Tomas"]
PLACES = ["Paris", "Lagos", "Toronto", "Mumbai", "Berlin", "Lima", "Osaka", "Cairo", "Oslo"]
POSITIVE_VERDICT = [
    "Loved it.", "Highly recommended.", "Worth every penny.", "Five stars.",
    "Would buy again.", "A must see.", "Simply perfect.", "Great value.",
]  # fmt: skip
NEGATIVE_VERDICT = [
    "Hated it.", "Not recommended.", "Waste of money.", "One star.",
    "Never again.", "Avoid.", "Total rip-off.", "Complete waste of time.",
]  # fmt: skip


@dataclass
class Case:
    texts: tuple[str, ...]  # one text (MFT), or the original and its changed versions
    expected: str | None = None  # MFT: "positive" or "negative"
    direction: int = 0  # DIR: +1 the changed text should score higher, -1 lower


@dataclass
class BehaviourTest:
    name: str
    capability: str
    kind: str  # MFT, INV or DIR
    description: str
    cases: list[Case] = field(default_factory=list)


def suite(seed: int = SEED, per_test: int = CASES_PER_TEST) -> list[BehaviourTest]:
    """Every test with its cases, drawn the same way on every run."""
    rng = random.Random(seed)
    makers = [
        _vocabulary_adjectives,
        _vocabulary_verbs,
        _short_verdicts,
        _negated_positives,
        _negated_negatives,
        _negated_verbs,
        _contrast,
        _intensifiers,
        _downtoners,
        _names_and_places,
        _numbers,
        _typos,
        _case,
        _added_opinion,
    ]
    tests = []
    for maker in makers:
        test = maker(rng)
        seen: set[tuple[str, ...]] = set()
        unique = []
        for case in test.cases:  # distinct cases, the first per_test of them
            if case.texts not in seen:
                seen.add(case.texts)
                unique.append(case)
        test.cases = unique[:per_test]
        tests.append(test)
    return tests


def run(
    tests: Sequence[BehaviourTest], score: Callable[[list[str]], list[float]]
) -> list[dict[str, Any]]:
    """Each test's failure rate and its failing cases; `score` gives P(positive) per text."""
    texts = sorted({t for test in tests for case in test.cases for t in case.texts})
    scores = dict(zip(texts, score(texts), strict=True))
    results = []
    for test in tests:
        failures = [case for case in test.cases if _fails(test.kind, case, scores)]
        results.append(
            {
                "test": test.name,
                "capability": test.capability,
                "kind": test.kind,
                "cases": len(test.cases),
                "failures": len(failures),
                "failure_rate": len(failures) / len(test.cases),
                "examples": [
                    {"texts": list(c.texts), "scores": [round(scores[t], 3) for t in c.texts]}
                    for c in failures[:3]
                ],
            }
        )
    return results


def macro_failure_rate(results: Sequence[dict[str, Any]]) -> float:
    return sum(r["failure_rate"] for r in results) / len(results)


def format_results(results: Sequence[dict[str, Any]]) -> str:
    lines = [f"{'test':<30}{'kind':<6}{'cases':>6}{'failed':>8}"]
    for r in results:
        rate = 100 * r["failure_rate"]
        lines.append(f"{r['test']:<30}{r['kind']:<6}{r['cases']:>6}{rate:>7.1f}%")
        for example in r["examples"]:
            pairs = zip(example["texts"], example["scores"], strict=True)
            lines.append("    " + " -> ".join(f"{t!r} {s:.3f}" for t, s in pairs))
    lines.append(f"macro failure rate: {100 * macro_failure_rate(results):.1f}%")
    return "\n".join(lines)


def _fails(kind: str, case: Case, scores: dict[str, float]) -> bool:
    if kind == "MFT":
        return (scores[case.texts[0]] >= 0.5) != (case.expected == "positive")
    original = scores[case.texts[0]]
    if kind == "INV":
        return any((scores[t] >= 0.5) != (original >= 0.5) for t in case.texts[1:])
    moved = scores[case.texts[1]] - original
    return moved * case.direction < -TOLERANCE


# -- the tests ---------------------------------------------------------------------------------


def _the(rng: random.Random) -> str:
    return rng.choice(["The", "This", "That", "Our"])


def _vocabulary_adjectives(rng: random.Random) -> BehaviourTest:
    test = BehaviourTest("vocabulary: adjectives", "vocabulary", "MFT", "The food was awful.")
    for _ in range(400):
        label = rng.choice(["positive", "negative"])
        adj = rng.choice(POSITIVE_ADJ if label == "positive" else NEGATIVE_ADJ)
        verb = rng.choice(["is", "was"])
        test.cases.append(Case((f"{_the(rng)} {rng.choice(NOUNS)} {verb} {adj}.",), label))
    return test


def _vocabulary_verbs(rng: random.Random) -> BehaviourTest:
    test = BehaviourTest("vocabulary: verbs", "vocabulary", "MFT", "I hated this film.")
    for _ in range(400):
        label = rng.choice(["positive", "negative"])
        verb = rng.choice(POSITIVE_VERB if label == "positive" else NEGATIVE_VERB)
        who = rng.choice(["I", "We", "My family", "Everyone I know"])
        test.cases.append(
            Case((f"{who} {verb} {rng.choice(['this', 'the'])} {rng.choice(NOUNS)}.",), label)
        )
    return test


def _short_verdicts(rng: random.Random) -> BehaviourTest:
    test = BehaviourTest("short verdicts", "vocabulary", "MFT", "Waste of money.")
    for verdict in POSITIVE_VERDICT:
        test.cases.append(Case((verdict,), "positive"))
    for verdict in NEGATIVE_VERDICT:
        test.cases.append(Case((verdict,), "negative"))
    for _ in range(200):
        label = rng.choice(["positive", "negative"])
        adj = rng.choice(POSITIVE_ADJ if label == "positive" else NEGATIVE_ADJ)
        test.cases.append(
            Case((rng.choice([f"{adj.capitalize()}!", f"{adj.capitalize()}."]),), label)
        )
    return test


def _negated_positives(rng: random.Random) -> BehaviourTest:
    test = BehaviourTest("negation of positives", "negation", "MFT", "The food was not good.")
    for _ in range(400):
        adj, noun = rng.choice(POSITIVE_ADJ), rng.choice(NOUNS)
        text = rng.choice([
            f"{_the(rng)} {noun} was not {adj}.",
            f"{_the(rng)} {noun} isn't {adj}.",
            f"{_the(rng)} {noun} was not {adj} at all.",
            f"I don't think the {noun} was {adj}.",
        ])  # fmt: skip
        test.cases.append(Case((text,), "negative"))
    return test


def _negated_negatives(rng: random.Random) -> BehaviourTest:
    test = BehaviourTest("negation of negatives", "negation", "MFT", "The food was not bad.")
    for _ in range(400):
        adj, noun = rng.choice(NEGATIVE_ADJ), rng.choice(NOUNS)
        text = rng.choice([
            f"{_the(rng)} {noun} was not {adj}.",
            f"{_the(rng)} {noun} isn't {adj} at all.",
            f"{_the(rng)} {noun} was never {adj}.",
            f"Not {adj} at all.",
        ])  # fmt: skip
        test.cases.append(Case((text,), "positive"))
    return test


def _negated_verbs(rng: random.Random) -> BehaviourTest:
    test = BehaviourTest("negation of verbs", "negation", "MFT", "I didn't like the film.")
    for _ in range(400):
        label = rng.choice(["positive", "negative"])
        verb = rng.choice(
            ["hate", "dislike", "regret"] if label == "positive" else ["like", "love", "enjoy"]
        )
        test.cases.append(Case((f"I didn't {verb} the {rng.choice(NOUNS)}.",), label))
    return test


def _contrast(rng: random.Random) -> BehaviourTest:
    test = BehaviourTest("contrast: but, although, yet", "contrast", "MFT",
                         "The plot was dull, but the cast was brilliant.")  # fmt: skip
    for _ in range(400):
        label = rng.choice(["positive", "negative"])
        first = rng.choice(NEGATIVE_ADJ if label == "positive" else POSITIVE_ADJ)
        last = rng.choice(POSITIVE_ADJ if label == "positive" else NEGATIVE_ADJ)
        a, b = rng.sample(NOUNS, 2)
        text = rng.choice([
            f"The {a} was {first}, but the {b} was {last}.",
            f"Although the {a} was {first}, the {b} was {last}.",
            f"The {a} was {first}, yet the {b} was {last}.",
            f"The {a} was {first}, but overall it was {last}.",
        ])  # fmt: skip
        test.cases.append(Case((text,), label))
    return test


def _degree(rng: random.Random, words: list[str], name: str, stronger: bool) -> BehaviourTest:
    example = "The film was good. -> The film was very good."
    test = BehaviourTest(name, "intensity", "DIR", example)
    for _ in range(400):
        positive = rng.random() < 0.5
        adj, noun = rng.choice(POSITIVE_ADJ if positive else NEGATIVE_ADJ), rng.choice(NOUNS)
        plain = f"The {noun} was {adj}."
        changed = f"The {noun} was {rng.choice(words)} {adj}."
        more_positive = positive == stronger  # intensified positive, or toned-down negative
        test.cases.append(Case((plain, changed), direction=1 if more_positive else -1))
    return test


def _intensifiers(rng: random.Random) -> BehaviourTest:
    return _degree(rng, INTENSIFIERS, "intensifiers", stronger=True)


def _downtoners(rng: random.Random) -> BehaviourTest:
    return _degree(rng, DOWNTONERS, "downtoners", stronger=False)


def _opinions(rng: random.Random) -> list[str]:
    out = []
    for _ in range(200):
        adj = rng.choice(POSITIVE_ADJ + NEGATIVE_ADJ)
        out.append(f"The {rng.choice(NOUNS)} was {adj}.")
        verb = rng.choice(POSITIVE_VERB[:4] + NEGATIVE_VERB[:4])
        out.append(f"I {verb} the {rng.choice(NOUNS)}.")
    return out


def _names_and_places(rng: random.Random) -> BehaviourTest:
    test = BehaviourTest("names and places", "robustness", "INV", "Maria -> Kenji")
    for text in _opinions(rng):
        a, b = rng.sample(NAMES, 2)
        p, q = rng.sample(PLACES, 2)
        template = rng.choice(["{name} said: {text}", "In {place}, {name} wrote: {text}"])
        original = template.format(name=a, place=p, text=text)
        test.cases.append(Case((original, template.format(name=b, place=q, text=text))))
    return test


def _numbers(rng: random.Random) -> BehaviourTest:
    test = BehaviourTest("numbers", "robustness", "INV", "after 2 days -> after 9 days")
    for text in _opinions(rng):
        a, b = rng.sample(range(2, 30), 2)
        unit = rng.choice(["days", "weeks", "visits", "hours"])
        template = "We came back after {n} " + unit + ". " + text
        test.cases.append(Case((template.format(n=a), template.format(n=b))))
    return test


def _typos(rng: random.Random) -> BehaviourTest:
    test = BehaviourTest("typos", "robustness", "INV", "terrible -> terirble")
    for text in _opinions(rng):
        words = text.split()
        # two neighbouring letters swapped in one word of three letters or more
        i = rng.choice([k for k, w in enumerate(words) if len(w.strip(".,!")) >= 3])
        word = words[i]
        j = rng.randrange(0, len(word.strip(".,!")) - 1)
        words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
        test.cases.append(Case((text, " ".join(words))))
    return test


def _case(rng: random.Random) -> BehaviourTest:
    test = BehaviourTest("letter case", "robustness", "INV", "great -> GREAT")
    for text in _opinions(rng):
        test.cases.append(Case((text, rng.choice([text.upper(), text.lower()]))))
    return test


def _added_opinion(rng: random.Random) -> BehaviourTest:
    test = BehaviourTest("an added opinion", "direction", "DIR", "... + I loved it.")
    for text in _opinions(rng):
        positive = rng.random() < 0.5
        verb = rng.choice(POSITIVE_VERB[:4] if positive else NEGATIVE_VERB[:4])
        added = f"{text} Overall, I {verb} it."
        test.cases.append(Case((text, added), direction=1 if positive else -1))
    return test
