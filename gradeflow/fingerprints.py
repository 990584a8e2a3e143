"""Code fingerprints for similarity reports: tokens with names, literals, comments and layout normalised, hashes of
every k tokens in a row, and winnowing (Schleimer, Wilkerson and Aiken, SIGMOD 2003: the algorithm MOSS, Dolos and
copydetect use) to keep a few of them per window.

Python's own tokenizer reads Python, pygments every other language (see `normalised_tokens`). Pure functions: the
similarity activities store what `fingerprint` returns once per distinct code and score pairs with `compare`.

Guarantees, with K tokens per k-gram and a window of W k-grams:
- a run of at least K + W - 1 tokens shared by two codes always yields a shared fingerprint;
- a shared run shorter than K tokens never does (noise: `i = 0`, `return x` are everybody's).
Renaming every variable, rewriting comments, reflowing whitespace or reordering functions changes no fingerprint
(names, literals and layout are normalised; fingerprints are a set); an added dead function only adds its own.
"""

from __future__ import annotations

import bisect
import builtins
import functools
import hashlib
import io
import keyword
import tokenize
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from pygments.lexers import get_lexer_by_name
from pygments.token import Comment, Keyword, Literal, Name, Number, String, Text, Token, _TokenType

K = 12
W = 8
# A fingerprint in more than COMMON_MIN codes, or more than COMMON_SHARE of them in a large cohort, is what the
# assignment makes everyone write, not evidence of copying: it is left out, as MOSS leaves out passages in more
# than 10 programs (its -m option). It also keeps the index's posting lists short, so the pairs it yields grow
# with the number of codes, not with its square.
COMMON_SHARE = 0.02
COMMON_MIN = 10


@dataclass(frozen=True)
class Fingerprints:
    """One code's winnowed fingerprints: hash, and the lines (1-based, inclusive) its k tokens span."""

    hashes: list[int]
    starts: list[int]
    ends: list[int]
    tokens: int  # normalised tokens in the code

    def as_set(self) -> set[int]:
        return set(self.hashes)


def normalised_tokens(code: str, language: str = "python") -> list[tuple[str, int]]:
    """(token, line) with identifiers as N, strings as S, numbers as 0; comments, docstrings and whitespace
    dropped; keywords, operators, punctuation and builtins (print, len: the vocabulary, not the names) kept.

    Python goes through the standard library's tokenizer (six times faster than pygments' lexer on student code,
    measured: 2.7 ms against 17 ms for 70 lines); other languages, and Python the tokenizer refuses (unbalanced
    brackets, bad indentation), through pygments, which reads anything."""
    if language == "python":
        try:
            return _python_tokens(code)
        except (tokenize.TokenError, SyntaxError):
            pass
    return _pygments_tokens(code, language)


_SKIP = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
}
_LINE_START = {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, None}
_BUILTINS = frozenset(dir(builtins))
FSTRING_START = getattr(tokenize, "FSTRING_START", -1)  # Python 3.12 splits f-strings into parts
FSTRING_END = getattr(tokenize, "FSTRING_END", -1)


def _python_tokens(code: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    previous: int | None = None
    fstring_depth = 0
    tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    for n, tok in enumerate(tokens):
        kind = tok.type
        if fstring_depth:
            fstring_depth += (kind == FSTRING_START) - (kind == FSTRING_END)
            continue
        if kind == FSTRING_START:
            fstring_depth = 1
            out.append(("S", tok.start[0]))
        elif kind == tokenize.STRING:
            following = tokens[n + 1].type if n + 1 < len(tokens) else None
            if not (
                previous in _LINE_START and following in (tokenize.NEWLINE, tokenize.ENDMARKER)
            ):
                # A string statement on its own (a docstring) is dropped
                out.append(("S", tok.start[0]))
        elif kind == tokenize.NUMBER:
            out.append(("0", tok.start[0]))
        elif kind == tokenize.NAME:
            word = tok.string
            keep = keyword.iskeyword(word) or keyword.issoftkeyword(word) or word in _BUILTINS
            out.append((word if keep else "N", tok.start[0]))
        elif kind not in _SKIP:
            out.append((tok.string, tok.start[0]))
        if kind not in (tokenize.COMMENT, tokenize.NL):
            previous = kind
    return out


def _pygments_tokens(code: str, language: str) -> list[tuple[str, int]]:
    lexer = _lexer(language)
    line_starts = [0] + [i + 1 for i, ch in enumerate(code) if ch == "\n"]
    out: list[tuple[str, int]] = []
    for index, kind, value in lexer.get_tokens_unprocessed(code):
        word = _normalise(kind, value)
        if word is None or (word == "S" and out and out[-1][0] == "S"):
            continue  # a string lexed in parts (quotes, escapes, interpolations) counts once
        out.append((word, bisect.bisect_right(line_starts, index)))
    return out


def _normalise(kind: _TokenType, value: str) -> str | None:
    if kind in Comment or kind in String.Doc or kind in Text or not value.strip():
        return None
    if kind in String or kind in Literal.String:
        return "S"
    if kind in Number:
        return "0"
    if kind in Name.Builtin and kind not in Name.Builtin.Pseudo:
        return value
    if kind in Name:
        return "N"
    if kind in Keyword or kind in Token.Operator or kind in Token.Punctuation:
        return value
    return repr(kind)[6:]  # any other kind: by its name, never by its text


@functools.cache
def _lexer(language: str):
    return get_lexer_by_name(language, stripnl=False, ensurenl=False)


def _kgram_hash(words: Iterable[str]) -> int:
    digest = hashlib.blake2b("\x1f".join(words).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)  # fits PostgreSQL's bigint


def fingerprint(code: str, language: str = "python") -> Fingerprints:
    tokens = normalised_tokens(code, language)
    words = [w for w, _ in tokens]
    grams = [_kgram_hash(words[i : i + K]) for i in range(len(words) - K + 1)]
    chosen: list[int] = []  # k-gram positions kept by winnowing
    if grams:
        if len(grams) <= W:
            chosen = [min(range(len(grams)), key=lambda i: (grams[i], -i))]
        else:
            for start in range(len(grams) - W + 1):
                window = range(start, start + W)
                pick = min(window, key=lambda i: (grams[i], -i))  # the rightmost minimum
                if not chosen or chosen[-1] != pick:
                    chosen.append(pick)
    return Fingerprints(
        hashes=[grams[i] for i in chosen],
        starts=[tokens[i][1] for i in chosen],
        ends=[tokens[i + K - 1][1] for i in chosen],
        tokens=len(tokens),
    )


@dataclass
class Fragment:
    """A stretch both codes share: lines in each (1-based, inclusive) and about how many tokens it spans."""

    a_lines: tuple[int, int]
    b_lines: tuple[int, int]
    fingerprints: int


@dataclass
class Comparison:
    shared: int
    share_a: float  # of A's fingerprints, the share B also has
    share_b: float
    similarity: float  # 2 x shared / (|A| + |B|): symmetric, 0 to 1
    fragments: list[Fragment] = field(default_factory=list)

    @property
    def longest_lines(self) -> int:
        return max((f.a_lines[1] - f.a_lines[0] + 1 for f in self.fragments), default=0)


def compare(
    a: Fingerprints, b: Fingerprints, ignore: set[int] | frozenset[int] = frozenset()
) -> Comparison:
    """How much of A and B is the same, with the shared fragments (fingerprints in `ignore`, e.g. the starter code
    and what everyone writes, do not count)."""
    set_a, set_b = a.as_set() - ignore, b.as_set() - ignore
    shared = set_a & set_b
    if not set_a or not set_b:
        return Comparison(0, 0.0, 0.0, 0.0)
    in_b: dict[int, list[int]] = defaultdict(list)
    for j, h in enumerate(b.hashes):
        if h in shared:
            in_b[h].append(j)
    fragments: list[Fragment] = []
    last_j = -2
    for i, h in enumerate(a.hashes):
        if h not in shared:
            last_j = -2
            continue
        js = in_b[h]
        # Continue the fragment in B when it can
        j = next((x for x in js if x == last_j + 1), js[0])
        current = fragments[-1] if fragments and j == last_j + 1 else None
        if current is None:
            fragments.append(Fragment((a.starts[i], a.ends[i]), (b.starts[j], b.ends[j]), 1))
        else:
            current.a_lines = (current.a_lines[0], max(current.a_lines[1], a.ends[i]))
            current.b_lines = (current.b_lines[0], max(current.b_lines[1], b.ends[j]))
            current.fingerprints += 1
        last_j = j
    fragments.sort(key=lambda f: -f.fingerprints)
    return Comparison(
        shared=len(shared),
        share_a=len(shared) / len(set_a),
        share_b=len(shared) / len(set_b),
        similarity=2 * len(shared) / (len(set_a) + len(set_b)),
        fragments=fragments,
    )


def common_fingerprints(codes: Iterable[set[int]], count: int) -> set[int]:
    """Fingerprints in more than max(COMMON_MIN, COMMON_SHARE x `count`) of the `count` codes."""
    limit = max(COMMON_MIN, COMMON_SHARE * count)
    seen: dict[int, int] = defaultdict(int)
    for hashes in codes:
        for h in hashes:
            seen[h] += 1
    return {h for h, n in seen.items() if n > limit}


def candidate_pairs(
    codes: dict[str, set[int]], ignore: set[int] | frozenset[int] = frozenset()
) -> dict[tuple[str, str], int]:
    """Pairs of codes (by key) that share at least one fingerprint, with how many: through an inverted index, so
    codes with nothing in common are never compared."""
    index: dict[int, list[str]] = defaultdict(list)
    for key, hashes in codes.items():
        for h in hashes - ignore:
            index[h].append(key)
    shared: dict[tuple[str, str], int] = defaultdict(int)
    for keys in index.values():
        if len(keys) < 2:
            continue
        keys.sort()
        for x in range(len(keys)):
            for y in range(x + 1, len(keys)):
                shared[(keys[x], keys[y])] += 1
    return shared
