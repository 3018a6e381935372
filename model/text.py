"""The one text pipeline: raw text -> tokens -> ids, used by training and serving alike.

clean (model.cleaning) -> spaCy's English tokenizer -> lower case -> at most `max_tokens`, a long
text keeping its head and tail.

The work per text is bounded, whatever the text holds:
  * A run of characters without whitespace longer than MAX_RUN_CHARS is cut into pieces of
    that length. spaCy peels prefixes and suffixes off a run one at a time, copying the rest
    each time: a run of 5,000 "!" cost 3 s. No run in the 100,000 IMDB reviews is longer than
    91 characters, so ordinary text reads exactly as before (tests/model/test_text.py checks
    that on real reviews).
  * Only the characters the truncation keeps are tokenized: chunks of runs from the start until
    the head has its tokens, then from the end until the tail has its own. Every run gives at
    least one token, so a text whose ends are reached before they meet has more than
    `max_tokens` tokens and its middle would be cut anyway.
  * Tokenizing happens inside spaCy's memory zone: the strings of never-seen words are freed
    after each batch instead of piling up in the vocabulary for the life of the process (about
    0.5 KB a word). The zone still leaves a tombstone per word in spaCy's hash tables (about
    33 bytes; they double instead of reusing them), so after RECYCLE_AFTER_WORDS new words the
    tokenizer is built anew. Inside a zone spaCy caches no tokenization, so each new tokenizer
    first caches its vocabulary's most frequent words, as an unzoned one would have by itself.
  * The pipeline keeps its own cache of runs already read (`"film,"` -> `film`, `,`), for runs
    that start with a letter or digit and whose every token is in the vocabulary: a client's
    never-seen words never enter it, and it is emptied when it holds RUN_CACHE_SIZE runs. Only
    the runs it misses go to spaCy. Without it, reading in zones took 4.4x as long as spaCy's
    unzoned tokenizer, whose own cache keeps every run it has seen. spaCy reads a run on its
    own except, rarely, one that starts with punctuation after a run that ends with it (3 runs
    in the 25,000 training reviews: `pair'' ''their` reads `'`, `'`, `their`, where `''their`
    alone reads `''`, `their`): such runs are not cached, and every run spaCy reads is read
    after the run before it, so the tokens stay those of the whole text.
Tokens come out the same as tokenizing the whole cleaned text and truncating it afterwards.

A pipeline may be called from any number of threads. spaCy's vocabulary, its memory zones and
the run cache are shared state (strings added in one thread's zone vanished under another's),
so each call reads its texts under the pipeline's lock: calls take turns, which costs nothing
that the GIL did not already take, and the network's forward passes, outside it, still overlap.
"""

from __future__ import annotations

import bisect
import contextlib
import re
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import spacy

from model.cleaning import clean, clean_aligned
from model.config import TextConfig
from model.vocab import Vocab

MAX_RUN_CHARS = 100
# A first chunk of this many characters covers a short review in one call; later chunks are
# sized from the characters per token seen so far, so a text of punctuation (one token per
# character, and spaCy's slowest) is read in small chunks and a text of words in large ones.
FIRST_CHUNK_CHARS = 512
MAX_CHUNK_CHARS = 4096
# Words cached in a fresh tokenizer, in lower case and capitalised: spaCy's cache holds 10,000.
# Without them, tokenizing in memory zones took 2.2x as long (8.0 s against 3.6 s for 5,000 IMDB
# reviews); caching 20,000 of each took 2.8 s but 28 MB.
WARM_WORDS = 5000
# At about 33 bytes a word, 200,000 new words hold about 7 MB before the tokenizer is rebuilt
# (0.1-0.2 s). Every lexeme spaCy creates counts, words seen before in another zone included.
RECYCLE_AFTER_WORDS = 200_000
# Runs of known words: about 200 bytes each, so at most about 10 MB.
RUN_CACHE_SIZE = 50_000
_RUN = re.compile(r"\S+")


@dataclass(frozen=True)
class Reading:
    """What the network reads of one text, and where each token stands in the text as sent."""

    tokens: list[str]
    spans: list[tuple[int, int]]  # [start, end) of each token in the original text
    skipped: tuple[int, int] | None  # original characters that truncation cut out, if any


@dataclass
class _Selection:
    tokens: list[str]
    starts: list[int]  # offsets in the cleaned text (filled only when asked for)
    ends: list[int]
    truncated: bool  # the middle of the text was cut


class TextPipeline:
    """spaCy's English tokenizer, cleaning, lower-casing and truncation, then numericalisation."""

    def __init__(self, config: TextConfig, vocab: Vocab | None = None) -> None:
        self.config = config
        limit = config.max_tokens
        self._head = limit if config.truncation == "head" else int(limit * config.head_fraction)
        self._tail = limit - self._head
        self._lock = threading.Lock()  # one thread at a time in spaCy and the run cache
        self.vocab = vocab  # builds the tokenizer

    @property
    def vocab(self) -> Vocab | None:
        return self._vocabulary

    @vocab.setter
    def vocab(self, vocab: Vocab | None) -> None:
        with self._lock:
            self._vocabulary = vocab
            self._run_cache: dict[str, tuple[tuple[str, int, int], ...]] = {}
            self._new_tokenizer()

    def _new_tokenizer(self) -> None:
        # spacy.blank("en") is the rule-based English tokenizer alone: no model download.
        self._nlp = spacy.blank("en")
        self._tokenizer = self._nlp.tokenizer
        if self._vocabulary is not None:
            words = self._vocabulary.tokens[2 : 2 + WARM_WORDS]
            self._tokenizer(" ".join(words + [w.capitalize() for w in words]))
        self._lexemes_at_start = len(self._nlp.vocab)

    @contextlib.contextmanager
    def _zone(self) -> Iterator[None]:
        """The pipeline's lock, and inside it spaCy's memory zone; a new tokenizer once the old
        one has seen too many words. A pipeline without a vocabulary only builds one, offline,
        from a corpus it reads once: it tokenizes unzoned, caching the corpus's frequent words
        as it goes (2.8x as fast)."""
        with self._lock:
            if self._vocabulary is None:
                yield
                return
            with self._nlp.memory_zone():
                yield
            if len(self._nlp.vocab) - self._lexemes_at_start > RECYCLE_AFTER_WORDS:
                self._new_tokenizer()

    def tokenize(self, text: str) -> list[str]:
        """All tokens of one text, before truncation (long runs cut as above)."""
        cleaned = clean(text)
        runs = _runs(cleaned)
        if not runs:
            return []
        with self._zone():
            return [t[0] for t in self._tokenize_runs(cleaned, runs, 0, len(runs), False)]

    def tokens(self, text: str) -> list[str]:
        """The tokens the network sees for one text: tokenized, then truncated."""
        return next(self.tokens_many([text]))

    def tokens_many(self, texts: Iterable[str], batch_size: int = 256) -> Iterator[list[str]]:
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) == batch_size:
                yield from self._tokens_batch(batch)
                batch = []
        if batch:
            yield from self._tokens_batch(batch)

    def truncate(self, tokens: list[str]) -> list[str]:
        if len(tokens) <= self.config.max_tokens:
            return tokens
        return tokens[: self._head] + tokens[len(tokens) - self._tail :]

    def encode(self, text: str) -> list[int]:
        """Ids for one text; never empty (a text with no tokens is one <unk>)."""
        return self._vocab().encode(self.tokens(text))

    def encode_many(self, texts: Iterable[str], batch_size: int = 256) -> list[list[int]]:
        vocab = self._vocab()
        return [vocab.encode(tokens) for tokens in self.tokens_many(texts, batch_size)]

    def read(self, text: str) -> Reading:
        """The tokens of `text` with their character spans in `text` itself."""
        cleaned, alignment = clean_aligned(text)
        with self._zone():
            chosen = self._select(cleaned, offsets=True)
        spans = [alignment.span(a, b) for a, b in zip(chosen.starts, chosen.ends, strict=True)]
        skipped = None
        if chosen.truncated:  # from the last head token to the first tail token
            start = spans[self._head - 1][1] if self._head else 0
            skipped = (start, spans[self._head][0] if self._tail else len(text))
        return Reading(chosen.tokens, spans, skipped)

    def _tokens_batch(self, texts: list[str]) -> list[list[str]]:
        with self._zone():
            return [self._select(clean(text)).tokens for text in texts]

    def _select(self, cleaned: str, offsets: bool = False) -> _Selection:
        """The head and tail tokens of a cleaned text, tokenizing no more than they need."""
        runs = _runs(cleaned)
        lo, hi = 0, len(runs)  # runs[lo:hi] are not tokenized yet
        head: list[tuple[str, int, int]] = []
        tail_chunks: list[list[tuple[str, int, int]]] = []
        seen_chars = seen_tokens = tail_count = 0
        while lo < hi and len(head) < self._head:
            budget = self._budget(self._head - len(head), seen_chars, seen_tokens)
            end = _chunk_end(runs, lo, hi, budget)
            found = self._tokenize_runs(cleaned, runs, lo, end, offsets)
            seen_chars += runs[end - 1][1] - runs[lo][0]
            seen_tokens += len(found)
            head.extend(found)
            lo = end
        while lo < hi and tail_count < self._tail:
            budget = self._budget(self._tail - tail_count, seen_chars, seen_tokens)
            start = _chunk_start(runs, lo, hi, budget)
            found = self._tokenize_runs(cleaned, runs, start, hi, offsets)
            seen_chars += runs[hi - 1][1] - runs[start][0]
            seen_tokens += len(found)
            tail_chunks.append(found)
            tail_count += len(found)
            hi = start
        tail = [token for chunk in reversed(tail_chunks) for token in chunk]
        if lo >= hi:  # every run was read: the whole text, truncated as usual
            chosen = head + tail
            truncated = len(chosen) > self.config.max_tokens
            if truncated:
                chosen = chosen[: self._head] + chosen[len(chosen) - self._tail :]
        else:  # the ends did not meet: more than max_tokens tokens, the middle is cut
            chosen = head[: self._head] + tail[len(tail) - self._tail :]
            truncated = True
        return _Selection(
            [t[0] for t in chosen], [t[1] for t in chosen], [t[2] for t in chosen], truncated
        )

    def _budget(self, needed: int, seen_chars: int, seen_tokens: int) -> int:
        """Characters to tokenize next for `needed` more tokens, from the rate seen so far."""
        if not seen_tokens:
            return FIRST_CHUNK_CHARS
        per_token = seen_chars / seen_tokens
        return max(64, min(MAX_CHUNK_CHARS, int(needed * per_token * 1.25)))

    def _tokenize_runs(
        self, cleaned: str, runs: list[tuple[int, int]], lo: int, hi: int, offsets: bool
    ) -> list[tuple[str, int, int]]:
        """(token, start, end) for runs[lo:hi], start and end in the cleaned text (0 unless
        `offsets`; otherwise from the run's start): from the run cache where it has the run,
        from spaCy where it does not."""
        vocab = self._vocabulary
        if vocab is None:  # building a vocabulary: spaCy's own cache is on, outside a zone
            pieces = self._spacy_runs(cleaned, runs[lo:hi])
        else:
            cache = self._run_cache
            keys = [cleaned[a:b] for a, b in runs[lo:hi]]
            found = [cache.get(key) for key in keys]
            missing = [k for k, piece in enumerate(found) if piece is None]
            if missing:
                # Each missing run is read after the run before it, as in the whole text.
                wanted: list[int] = []
                for k in missing:
                    if lo + k > 0 and (not wanted or wanted[-1] != lo + k - 1):
                        wanted.append(lo + k - 1)
                    wanted.append(lo + k)
                pieces_read = self._spacy_runs(cleaned, [runs[g] for g in wanted])
                read = dict(zip(wanted, pieces_read, strict=True))
                for k in missing:
                    piece = found[k] = read[lo + k]
                    if keys[k][0].isalnum() and all(token in vocab for token, _, _ in piece):
                        if len(cache) >= RUN_CACHE_SIZE:
                            cache.clear()
                        cache[keys[k]] = piece
            pieces = found  # type: ignore[assignment]
        if not offsets:
            return [token for piece in pieces for token in piece]
        out = []
        for (a, _), piece in zip(runs[lo:hi], pieces, strict=True):
            out.extend((token, a + start, a + end) for token, start, end in piece)
        return out

    def _spacy_runs(
        self, cleaned: str, runs: list[tuple[int, int]]
    ) -> list[tuple[tuple[str, int, int], ...]]:
        """Each run's (token, start, end), start and end counted from the run's start. The runs
        are read joined by single spaces."""
        doc = self._tokenizer(" ".join(cleaned[a:b] for a, b in runs))
        lower = self.config.lowercase
        run_starts, at = [], 0
        for a, b in runs:
            run_starts.append(at)
            at += b - a + 1
        pieces: list[list[tuple[str, int, int]]] = [[] for _ in runs]
        for t in doc:
            if t.is_space:
                continue
            k = bisect.bisect_right(run_starts, t.idx) - 1
            start = t.idx - run_starts[k]
            text = sys.intern(t.lower_ if lower else t.text)
            pieces[k].append((text, start, start + len(t.text)))
        return [tuple(piece) for piece in pieces]

    def _vocab(self) -> Vocab:
        if self._vocabulary is None:
            raise RuntimeError("this TextPipeline has no vocabulary; pass one to encode text")
        return self._vocabulary


def _runs(cleaned: str) -> list[tuple[int, int]]:
    """(start, end) of each run of non-whitespace, long runs cut into MAX_RUN_CHARS pieces."""
    spans = [match.span() for match in _RUN.finditer(cleaned)]
    if all(end - start <= MAX_RUN_CHARS for start, end in spans):
        return spans
    runs = []
    for start, end in spans:
        while end - start > MAX_RUN_CHARS:
            runs.append((start, start + MAX_RUN_CHARS))
            start += MAX_RUN_CHARS
        runs.append((start, end))
    return runs


def _chunk_end(runs: list[tuple[int, int]], lo: int, hi: int, budget: int) -> int:
    """The end of a chunk of runs from `lo` of about `budget` characters (at least one run)."""
    limit = runs[lo][0] + budget
    end = bisect.bisect_right(runs, (limit, limit), lo, hi)
    return max(end, lo + 1)


def _chunk_start(runs: list[tuple[int, int]], lo: int, hi: int, budget: int) -> int:
    """The start of a chunk of runs ending at `hi` of about `budget` characters (at least one)."""
    limit = runs[hi - 1][1] - budget
    start = bisect.bisect_left(runs, (limit, limit), lo, hi)
    return min(start, hi - 1)
