"""The Stanford Sentiment Treebank (Socher et al. 2013): sentences of film reviews parsed into
binary trees with a sentiment label, 0 (very negative) to 4 (very positive), on every phrase.

    (3 (2 It) (4 (4 (2 's) (4 (3 (2 a) (4 (3 lovely) (2 film))) ...

Its phrase labels are the labelled data that teaches a network how negation, contrast and
intensity compose ("(0 (1 not) (4 smart))"). This module reads the tree files, and turns every
phrase back into the text a person would have typed, which is what the service sees: PTB escapes
undone (-LRB- is "(", `` and '' are quotes), split contractions joined ("does n't" is
"doesn't", "it 's" is "it's"), and no space before punctuation. The text then goes through the
one text pipeline like any other (tests/training/test_sst.py checks that "does n't" comes out
as the tokens spaCy makes of "doesn't").

Binary labels: 0-1 negative, 3-4 positive; 2 (neutral) is dropped as a hard label, or kept as a
soft target of 0.5. The sentences of a file (its roots), with the binary labels and neutral ones
dropped, are SST-2: training.data reads a tree file as a labelled source (group "sst").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from training.errors import UserError

_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_ESCAPES = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}
_QUOTES = {"``": '"', "''": '"', "`": "'"}
# Contraction pieces that the treebank splits off the word before them.
_CLITICS = {"n't", "'s", "'re", "'ve", "'ll", "'d", "'m", "'S", "N'T"}
_NO_SPACE_BEFORE = {",", ".", "!", "?", ";", ":", "%", ")", "]", "}", "...", "'"}
_NO_SPACE_AFTER = {"(", "[", "{", "$"}
# Soft targets of the five classes, for --phrase-targets soft: neutral phrases teach "neither".
SOFT = {0: 0.0, 1: 0.25, 2: 0.5, 3: 0.75, 4: 1.0}


@dataclass(frozen=True)
class Phrase:
    text: str  # as a person would type it
    label: int  # 0-4
    words: int  # tokens in the tree


@dataclass(frozen=True)
class Node:
    """A subtree: its label, its children (subtrees, or a word at a leaf) and its tokens."""

    label: int
    children: tuple[Node | str, ...]
    tokens: tuple[str, ...]

    def subtrees(self) -> tuple[Node, ...]:
        return tuple(c for c in self.children if isinstance(c, Node))

    def walk(self) -> Iterator[Node]:
        """This node and every node below it, parents before children."""
        yield self
        for child in self.subtrees():
            yield from child.walk()


def read_trees(path: Path) -> list[list[Phrase]]:
    """Every tree of a file: its phrases, the root (the whole sentence) first."""
    trees = []
    for root in read_roots(path):
        nodes = reversed(list(_children_first(root)))  # the root first, as the file's order
        trees.append([Phrase(detokenize(n.tokens), n.label, len(n.tokens)) for n in nodes])
    return trees


def read_roots(path: Path) -> list[Node]:
    """Every tree of a file, as its root node."""
    roots = []
    with Path(path).open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    roots.append(_tree(line))
                except (ValueError, IndexError) as exc:
                    raise UserError(f"{path}:{number}: not a treebank tree: {exc}") from exc
    return roots


def is_treebank(path: Path) -> bool:
    """Whether a file holds treebank trees: its first line starts with '(' and a label."""
    try:
        with Path(path).open(encoding="utf-8") as f:
            first = f.readline().lstrip()
    except (OSError, UnicodeDecodeError):
        return False
    return re.match(r"\(\s*[0-4]\s", first) is not None


def sentences(path: Path) -> list[tuple[str, int]]:
    """SST-2: each sentence (tree root) with its binary label; neutral sentences dropped."""
    out = []
    for tree in read_trees(path):
        root = tree[0]
        if root.label != 2:
            out.append((root.text, int(root.label > 2)))
    return out


def phrases(path: Path, neutral: bool = False) -> list[tuple[str, float]]:
    """Every distinct phrase of the file's trees with its target: 0 or 1 (neutral phrases
    dropped), or, with `neutral`, the soft targets of SOFT. A phrase that occurs with several
    labels takes the most frequent (the lowest among ties)."""
    seen: dict[str, dict[int, int]] = {}
    for tree in read_trees(path):
        for p in tree:
            counts = seen.setdefault(p.text, {})
            counts[p.label] = counts.get(p.label, 0) + 1
    out = []
    for text, counts in seen.items():
        label = max(sorted(counts), key=lambda k: counts[k])
        if neutral:
            out.append((text, SOFT[label]))
        elif label != 2:
            out.append((text, float(label > 2)))
    return out


def turns(path: Path, negations: bool = False) -> set[str]:
    """The phrases where composition turns a label: a positive or negative phrase with a phrase
    of the opposite sign right below it ("never boring" over "boring", "isn't funny" over
    "funny", "lovely disaster" over "lovely"). About 4,400 of the 77,615 binary phrases of
    train.txt; they are what shows how "not" and "but" act, and are few among the rest.
    With `negations`, only the turns that a negation makes: a negating word among the three
    tokens right before the turned phrase ("is never dull", "won't be disappointed", "is
    hardly a masterpiece"; 395 of train.txt's phrases, 78 of them negated negatives)."""
    found = set()
    for root in read_roots(path):
        for node in root.walk():
            if node.label == 2:
                continue
            for i, child in enumerate(node.children):
                if (
                    isinstance(child, Node)
                    and child.label != 2
                    and (child.label > 2) != (node.label > 2)
                    and (not negations or _negated(node.children[:i]))
                ):
                    found.add(detokenize(node.tokens))
                    break
    return found


# Words that negate what follows them (a turn they make is a negation's).
NEGATORS = {
    "not", "n't", "never", "no", "nothing", "nobody", "none", "neither", "nor", "without",
    "hardly", "barely", "scarcely",
}  # fmt: skip


def _negated(before: tuple[Node | str, ...]) -> bool:
    """Whether a negating word is among the last three tokens of `before`."""
    tokens = [t for c in before for t in (c.tokens if isinstance(c, Node) else (c,))]
    return any(t.lower() in NEGATORS for t in tokens[-3:])


def _children_first(node: Node) -> Iterator[Node]:
    for child in node.subtrees():
        yield from _children_first(child)
    yield node


def _tree(line: str) -> Node:
    tokens = _TOKEN.findall(line)
    position, root = _parse(tokens, 0)
    if position != len(tokens):
        raise ValueError(f"text after the tree's end: {' '.join(tokens[position:])[:40]!r}")
    return root


def _parse(tokens: list[str], i: int) -> tuple[int, Node]:
    """Parse the subtree at tokens[i] ("(" label children ")"); returns the index after it and
    the subtree."""
    if tokens[i] != "(":
        raise ValueError(f"expected '(' at token {i}, got {tokens[i]!r}")
    label = int(tokens[i + 1])
    if not 0 <= label <= 4:
        raise ValueError(f"label {label} is not 0-4")
    i += 2
    children: list[Node | str] = []
    words: list[str] = []
    while tokens[i] != ")":
        if tokens[i] == "(":
            i, child = _parse(tokens, i)
            children.append(child)
            words.extend(child.tokens)
        else:
            children.append(tokens[i])
            words.append(tokens[i])
            i += 1
    return i + 1, Node(label, tuple(children), tuple(words))


def detokenize(tokens: Iterable[str]) -> str:
    """The text a person would have typed for treebank tokens."""
    pieces: list[str] = []
    glue = True  # no space before the next token (at the start, after "(" or an open quote)
    for raw in tokens:
        token = _ESCAPES.get(raw, raw).replace("\\/", "/").replace("\\*", "*")
        if raw == "``":
            pieces.append(("" if glue else " ") + '"')
            glue = True
            continue
        if raw == "''":
            pieces.append('"')
            glue = False
            continue
        token = _QUOTES.get(token, token)
        sticks = token in _CLITICS or token.lower() in _CLITICS or token in _NO_SPACE_BEFORE
        pieces.append(token if glue or sticks else " " + token)
        glue = token in _NO_SPACE_AFTER
    return "".join(pieces)


def iter_binary(path: Path) -> Iterator[tuple[str, int]]:
    """SST-2 sentences of a tree file, for training.data's reader."""
    yield from sentences(path)
