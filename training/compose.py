"""Phrases composed from the treebank's own: how negation and contrast change a labelled phrase,
by rules that hold in English, applied to the real phrases and labels of a treebank file
(training/sst.py). The treebank has a label on every phrase but few negated ones (about 25
negations of a short negative phrase in train), so a network trained on it alone still reads
"not bad" as "bad"; these rules give it the pairs it lacks. Nothing here comes from the
behavioural suite (training/behaviour.py), which no part of training may read.

  * Negated predicates: a verb phrase of a copula and a short phrase that carries the verb
    phrase's label ("is terrific", "'s too long") is negated ("isn't terrific", "is not
    terrific", "is never terrific"; "seems dull" -> "doesn't seem dull"), alone and with its
    subject ("The acting isn't terrific.").
  * Negated auxiliaries: a modal or auxiliary and a verb phrase that carries the label ("will
    enjoy it", "can hold your interest") -> "won't enjoy it", "cannot hold your interest".
  * Negated beliefs: a negated clause's reading, reached by negating the belief instead ("I
    don't think the acting is terrific."), which English reads as the negated clause.
  * Contrast (only when asked for): two sentences of opposite labels joined so that the second
    wins ("A, but B", "Although A, B", "A; however, B", "A, yet B"), with the second's target,
    the A-but-B rule of Hu et al. (ACL 2016) on this treebank. 8,000 of them, beside the
    negations, lowered validation and SST-2 dev accuracy (MODEL_CARD.md): pairs from
    different reviews teach the network to read only the last clause, which whole reviews do
    not bear out.

Targets: a negated positive trains towards NEGATED_POSITIVE and a negated negative towards
NEGATED_NEGATIVE, the soft targets of the treebank's own labels for the short negations it has:
"not smart" and "never takes hold" are mostly 1 (somewhat negative), "never boring" and "not
sophomoric" mostly 3 (somewhat positive, "not bad" is milder than "good"). A contrast takes the
soft target of its second sentence's label.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path

from training.sst import SOFT, Node, detokenize, read_roots

NEGATED_POSITIVE = SOFT[1]  # 0.25
NEGATED_NEGATIVE = SOFT[3]  # 0.75
MAX_PREDICATE = 4  # tokens of the phrase a copula takes
MAX_VERB_PHRASE = 6  # tokens of the verb phrase an auxiliary takes
MAX_SUBJECT = 5  # tokens of a subject kept with its predicate
CONTRAST_WORDS = (4, 18)  # tokens of a sentence joined in a contrast
SEED = 20261208

# Words that already negate or turn a phrase: a phrase holding one is not negated again.
_TURNING = {
    "not", "n't", "never", "no", "nothing", "nobody", "none", "neither", "nor", "without",
    "hardly", "barely", "but", "although", "though", "however", "yet", "despite",
}  # fmt: skip
# A copula and its negations (a form of "be" takes "not"; other copulas need "do").
_COPULAS = {
    "is": ("isn't", "is not", "is never"),
    "was": ("wasn't", "was not", "was never"),
    "are": ("aren't", "are not", "are never"),
    "were": ("weren't", "were not", "were never"),
    "'s": ("'s not", "'s never"),
    "'re": ("'re not", "'re never"),
    "'m": ("'m not", "'m never"),
    "am": ("am not", "am never"),
    "be": ("not be", "never be"),
    "been": ("not been", "never been"),
    "seems": ("doesn't seem", "does not seem", "never seems"),
    "seemed": ("didn't seem", "did not seem", "never seemed"),
    "feels": ("doesn't feel", "does not feel", "never feels"),
    "felt": ("didn't feel", "did not feel", "never felt"),
    "looks": ("doesn't look", "does not look", "never looks"),
    "looked": ("didn't look", "did not look", "never looked"),
    "sounds": ("doesn't sound", "does not sound", "never sounds"),
    "remains": ("doesn't remain", "does not remain", "never remains"),
    "becomes": ("doesn't become", "does not become", "never becomes"),
    "became": ("didn't become", "did not become", "never became"),
    "gets": ("doesn't get", "does not get", "never gets"),
    "got": ("didn't get", "did not get", "never got"),
}
_AUXILIARIES = {
    "will": ("won't", "will not", "will never"),
    "would": ("wouldn't", "would not", "would never"),
    "can": ("can't", "cannot", "can never"),
    "could": ("couldn't", "could not", "could never"),
    "should": ("shouldn't", "should not", "should never"),
    "must": ("mustn't", "must not", "must never"),
    "may": ("may not", "may never"),
    "might": ("might not", "might never"),
    "do": ("don't", "do not", "never"),
    "does": ("doesn't", "does not"),
    "did": ("didn't", "did not"),
}
_SUBJECT_STARTS = {
    "the", "this", "that", "these", "those", "a", "an", "it", "he", "she", "they", "we", "you",
    "i", "its", "his", "her", "their", "our", "my", "your", "there", "everyone", "everything",
}  # fmt: skip
_BELIEFS = ("I don't think", "I do not believe", "I wouldn't say", "I don't feel")


def composed(path: Path, contrast_count: int = 0, seed: int = SEED) -> list[tuple[str, float]]:
    """Negations, and `contrast_count` contrasts, made from a treebank file's phrases, each with
    its target, distinct and in a fixed order for a file and seed."""
    roots = read_roots(path)
    rng = random.Random(seed)
    found: dict[str, float] = {}
    made = [*negations(roots, rng), *contrasts(roots, contrast_count, rng)]
    for text, target in made:
        found.setdefault(text, target)
    return list(found.items())


def negations(roots: Sequence[Node], rng: random.Random) -> Iterator[tuple[str, float]]:
    """Every negated predicate and auxiliary of the trees, alone and with its subject, and a
    negated belief for each subject clause."""
    lower = _lowercase_words(roots)
    for root in roots:
        for parent in root.walk():
            for node in parent.subtrees():
                negated = list(_negated(node))
                subject = _subject(parent, node) if negated else None
                for text, target in negated:
                    yield text, target
                    if subject is not None:
                        yield _join(subject, text) + ".", target
                if subject is not None:  # the belief negated, the clause as it was
                    clause = _first_lower(_join(subject, detokenize(node.tokens)), lower)
                    yield f"{rng.choice(_BELIEFS)} {clause}.", negated[0][1]


def contrasts(roots: Sequence[Node], count: int, rng: random.Random) -> Iterator[tuple[str, float]]:
    """`count` pairs of sentences of opposite labels, joined so that the second one wins."""
    low, high = CONTRAST_WORDS
    lower = _lowercase_words(roots)
    polar = [
        r for r in roots if r.label != 2 and low <= len(r.tokens) <= high and not _turns(r.tokens)
    ]
    positive = [r for r in polar if r.label > 2]
    negative = [r for r in polar if r.label < 2]
    if not positive or not negative:
        return
    for _ in range(count):
        first, second = (positive, negative) if rng.random() < 0.5 else (negative, positive)
        a, b = rng.choice(first), rng.choice(second)
        a_text, b_text = _clause(a.tokens), _clause(b.tokens)
        a_low, b_low = _first_lower(a_text, lower), _first_lower(b_text, lower)
        joined = rng.choice([
            f"{a_text}, but {b_low}.",
            f"Although {a_low}, {b_low}.",
            f"{a_text}; however, {b_low}.",
            f"{a_text}, yet {b_low}.",
            f"{a_text}. But {b_low}.",
        ])  # fmt: skip
        yield joined, SOFT[b.label]


def _negated(node: Node) -> Iterator[tuple[str, float]]:
    """The negations of a verb phrase (head word, then a phrase that carries its label)."""
    if node.label == 2 or len(node.children) != 2:
        return
    head, rest = node.children
    if not isinstance(head, Node) or not isinstance(rest, Node) or len(head.tokens) != 1:
        return
    word = head.tokens[0].lower()
    forms = _COPULAS.get(word)
    limit = MAX_PREDICATE
    if forms is None:
        forms, limit = _AUXILIARIES.get(word), MAX_VERB_PHRASE
    if forms is None or not 1 <= len(rest.tokens) <= limit or _turns(rest.tokens):
        return
    if rest.label == 2 or (rest.label > 2) != (node.label > 2):
        return  # the label is the phrase's, not the verb's
    target = NEGATED_POSITIVE if node.label > 2 else NEGATED_NEGATIVE
    phrase = detokenize(rest.tokens)
    for form in forms:
        yield _join(form, phrase), target


def _subject(parent: Node, node: Node) -> str | None:
    """The subject's text when `parent` is a short, neutral subject followed by `node` (a
    subject starts with a determiner, a pronoun or a capital)."""
    kids = parent.subtrees()
    if len(kids) != 2 or kids[1] is not node:
        return None
    tokens = kids[0].tokens
    if kids[0].label != 2 or not 1 <= len(tokens) <= MAX_SUBJECT or _turns(tokens):
        return None
    if tokens[0].lower() not in _SUBJECT_STARTS and not tokens[0][:1].isupper():
        return None
    return detokenize(tokens)


def _join(left: str, right: str) -> str:
    return left + right if right.startswith("'") else f"{left} {right}"


def _clause(tokens: Sequence[str]) -> str:
    """A sentence's text without its closing punctuation."""
    return detokenize(tokens).rstrip(" .!?")


def _first_lower(text: str, lower: set[str]) -> str:
    """The text with its first letter lower-cased when its first word starts subjects or is one
    the treebank also writes in lower case elsewhere (so that names keep their capital)."""
    first = text.split(" ", 1)[0]
    if first == "I" or first.startswith("I'"):
        return text
    if first.lower() in _SUBJECT_STARTS or first.lower() in lower:
        return text[0].lower() + text[1:]
    return text


def _lowercase_words(roots: Sequence[Node]) -> set[str]:
    """The words written in lower case somewhere in the trees, past their first word."""
    return {t for root in roots for t in root.tokens[1:] if t.islower()}


def _turns(tokens: Sequence[str]) -> bool:
    return any(t.lower() in _TURNING for t in tokens)
