"""The vocabulary: tokens <-> ids, with <pad> at 0 and <unk> at 1, saved as JSON."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

PAD = "<pad>"
UNK = "<unk>"
FORMAT = 1


class VocabError(ValueError):
    """A vocabulary file or list that cannot be used."""


class Vocab:
    pad_index = 0
    unk_index = 1

    def __init__(self, tokens: list[str]) -> None:
        if tokens[:2] != [PAD, UNK]:
            raise VocabError(f"a vocabulary starts with {PAD!r} and {UNK!r}, got {tokens[:2]!r}")
        index = {tok: i for i, tok in enumerate(tokens)}
        if len(index) != len(tokens):
            dupes = sorted(t for t, n in Counter(tokens).items() if n > 1)
            raise VocabError(f"the vocabulary repeats tokens: {dupes[:5]!r}")
        self.tokens = tokens
        self._index = index

    @classmethod
    def build(
        cls, token_lists: Iterable[list[str]], max_size: int = 50_000, min_freq: int = 2
    ) -> Vocab:
        """The `max_size` most frequent tokens seen at least `min_freq` times.

        Ties break alphabetically, so the same corpus always gives the same ids.
        `max_size` counts <pad> and <unk>.
        """
        if max_size < 3:
            raise VocabError(f"max_size must be at least 3, got {max_size}")
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        for special in (PAD, UNK):
            counts.pop(special, None)
        kept = sorted(
            (t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t)
        )
        return cls([PAD, UNK, *kept[: max_size - 2]])

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._index

    def encode(self, tokens: list[str]) -> list[int]:
        """Ids for tokens; unknown tokens map to <unk>, and no tokens to a single <unk>."""
        if not tokens:
            return [self.unk_index]
        get = self._index.get
        return [get(t, self.unk_index) for t in tokens]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"format": FORMAT, "tokens": self.tokens}, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> Vocab:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise VocabError(f"{path.name}: cannot read the vocabulary: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("tokens"), list):
            raise VocabError(f"{path.name}: expected a JSON object with a 'tokens' list")
        if data.get("format", FORMAT) > FORMAT:
            raise VocabError(
                f"{path.name}: vocabulary format {data['format']} is newer than {FORMAT}"
            )
        tokens = data["tokens"]
        if not all(isinstance(t, str) for t in tokens):
            raise VocabError(f"{path.name}: every token must be a string")
        try:
            return cls(tokens)
        except VocabError as exc:
            raise VocabError(f"{path.name}: {exc}") from exc
