"""A small reader of nginx configuration files, enough for the checks of deploy/proxy/nginx.conf.

nginx itself cannot check that file here: Debian's nginx is older than the `resolve` parameter
its upstream uses (1.27.3). This reads the same syntax nginx does (directives ending in `;`,
blocks in braces, quoted strings with backslash escapes, `#` comments) into a tree, picks the
location nginx would pick for a path, and resolves a directive the way nginx inherits it: from
the innermost block that sets it at all. That last rule is what makes one `proxy_set_header` (or
`add_header`) in a location drop every one set above it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""\s+|\#[^\n]*|(?P<punct>[;{}])|"(?P<dq>(?:\\.|[^"\\])*)"|'(?P<sq>(?:\\.|[^'\\])*)'|(?P<word>[^\s;{}"'#]+)""",
    re.DOTALL,
)


@dataclass(frozen=True)
class Directive:
    name: str
    args: tuple[str, ...]
    block: tuple[Directive, ...] | None = None  # the directives inside its braces, if any


def parse(text: str) -> tuple[Directive, ...]:
    """The directives of a configuration file, blocks nested; a syntax error raises ValueError."""
    directives, _ = _block(_tokens(text), 0, top=True)
    return directives


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, value) pairs: kind is `;`, `{` or `}`, or 'word' for anything else, quoted strings
    included (without their quotes; escaped quotes and backslashes unescaped)."""
    out, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"cannot read {text[position : position + 20]!r}")
        position = match.end()
        if match["punct"]:
            out.append((match["punct"], match["punct"]))
        elif match["dq"] is not None or match["sq"] is not None:
            quoted = match["dq"] if match["dq"] is not None else match["sq"]
            out.append(("word", re.sub(r"\\([\"'\\])", r"\1", quoted)))
        elif match["word"]:
            out.append(("word", match["word"]))
    return out


def _block(tokens: list[tuple[str, str]], i: int, top: bool) -> tuple[tuple[Directive, ...], int]:
    """The directives from tokens[i] to the `}` that closes the block (the end, at the top
    level), and the index after it."""
    directives: list[Directive] = []
    words: list[str] = []
    while i < len(tokens):
        kind, value = tokens[i]
        i += 1
        if kind == "word":
            words.append(value)
            continue
        if kind != "}" and not words:
            raise ValueError(f"{kind!r} without a directive name")
        if kind == ";":
            directives.append(Directive(words[0], tuple(words[1:])))
        elif kind == "{":
            inner, i = _block(tokens, i, top=False)
            directives.append(Directive(words[0], tuple(words[1:]), inner))
        else:  # "}"
            if words:
                raise ValueError(f"directive {words[0]!r} has no ';'")
            if top:
                raise ValueError("a '}' that closes no block")
            return tuple(directives), i
        words = []
    if words:
        raise ValueError(f"directive {words[0]!r} has no ';'")
    if not top:
        raise ValueError("a block is not closed")
    return tuple(directives), i


def named(block: tuple[Directive, ...], name: str) -> list[Directive]:
    return [d for d in block if d.name == name]


def only(block: tuple[Directive, ...], name: str) -> Directive:
    (found,) = named(block, name)
    return found


def location_chain(server: Directive, path: str) -> list[tuple[Directive, ...]]:
    """[server block, location block]: the location nginx picks for `path` in `server`, by
    nginx's rules for exact (`=`) and prefix locations. Regular-expression locations are not
    supported (nginx would try them after the prefixes): a server with one raises ValueError,
    so that a check never reads the wrong location silently."""
    assert server.block is not None
    exact, prefixes = None, []
    for location in named(server.block, "location"):
        modifier, uri = location.args if len(location.args) == 2 else ("", location.args[0])
        if modifier in {"~", "~*"}:
            raise ValueError(f"regular-expression location {uri!r}: not supported here")
        if modifier == "=" and uri == path:
            exact = location
        elif modifier in {"", "^~"} and path.startswith(uri):
            prefixes.append((len(uri), location))
    chosen = exact or (max(prefixes, key=lambda p: p[0])[1] if prefixes else None)
    if chosen is None:
        raise ValueError(f"no location of this server serves {path}")
    assert chosen.block is not None
    return [server.block, chosen.block]


def effective(levels: list[tuple[Directive, ...]], name: str) -> list[tuple[str, ...]]:
    """The arguments of every `name` directive in force at the innermost of `levels` (outermost
    first): those of the innermost level that has any, since nginx inherits a directive from the
    level above only where the current level sets none."""
    for block in reversed(levels):
        found = named(block, name)
        if found:
            return [d.args for d in found]
    return []
