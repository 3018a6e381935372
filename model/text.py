"""The one text pipeline: raw text -> tokens -> ids, used by training and serving alike."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

import spacy

from model.config import TextConfig
from model.vocab import Vocab

# <br />, <br>, <BR/>, <p>, </p>, <hr>: the line breaks that IMDB reviews (and pasted web text)
# carry. Other markup is left to the tokenizer: it is rare, and stripping it blindly would eat
# text such as "a <3 film".
_HTML_BREAK = re.compile(r"<\s*(?:br|p|/p|hr)\s*/?\s*>", re.IGNORECASE)
# Control and format characters (zero-width spaces, BOMs, bidi marks) other than whitespace.
_INVISIBLE = {"Cc", "Cf"}


def clean(text: str) -> str:
    """HTML line breaks to spaces, unicode in NFC form, invisible characters removed."""
    text = _HTML_BREAK.sub(" ", text)
    text = unicodedata.normalize("NFC", text)
    if any(unicodedata.category(c) in _INVISIBLE and not c.isspace() for c in text):
        text = "".join(c for c in text if c.isspace() or unicodedata.category(c) not in _INVISIBLE)
    return text


class TextPipeline:
    """spaCy's English tokenizer, cleaning, lower-casing and truncation, then numericalisation."""

    def __init__(self, config: TextConfig, vocab: Vocab | None = None) -> None:
        self.config = config
        self.vocab = vocab
        # spacy.blank("en") is the rule-based English tokenizer alone: no model download.
        self._tokenizer = spacy.blank("en").tokenizer

    def tokenize(self, text: str) -> list[str]:
        """All tokens of one text, before truncation."""
        return next(self._tokenize_many([text]))

    def tokens(self, text: str) -> list[str]:
        """The tokens the network sees for one text: tokenized, then truncated."""
        return self.truncate(self.tokenize(text))

    def tokens_many(self, texts: Iterable[str], batch_size: int = 256) -> Iterator[list[str]]:
        for tokens in self._tokenize_many(texts, batch_size):
            yield self.truncate(tokens)

    def truncate(self, tokens: list[str]) -> list[str]:
        limit = self.config.max_tokens
        if len(tokens) <= limit:
            return tokens
        if self.config.truncation == "head":
            return tokens[:limit]
        head = int(limit * self.config.head_fraction)
        tail = limit - head
        return tokens[:head] + tokens[len(tokens) - tail :]

    def encode(self, text: str) -> list[int]:
        """Ids for one text; never empty (a text with no tokens is one <unk>)."""
        return self._vocab().encode(self.tokens(text))

    def encode_many(self, texts: Iterable[str], batch_size: int = 256) -> list[list[int]]:
        vocab = self._vocab()
        return [vocab.encode(tokens) for tokens in self.tokens_many(texts, batch_size)]

    def _tokenize_many(self, texts: Iterable[str], batch_size: int = 256) -> Iterator[list[str]]:
        lower = self.config.lowercase
        cleaned = (clean(t) for t in texts)
        for doc in self._tokenizer.pipe(cleaned, batch_size=batch_size):
            yield [t.lower_ if lower else t.text for t in doc if not t.is_space]

    def _vocab(self) -> Vocab:
        if self.vocab is None:
            raise RuntimeError("this TextPipeline has no vocabulary; pass one to encode text")
        return self.vocab
