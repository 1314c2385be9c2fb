"""File reservations: which path globs may overlap, and which holds may share a path.

Agents sharing one checkout reserve path globs before editing. The rules, written for people
and agents alike (the tool descriptions and the README say the same):

- A glob is a path relative to the checkout root, with `/` between parts. `./` and repeated
  slashes are dropped; a trailing `/` means the directory (`docs/` is `docs/**`). Absolute
  paths, `..` and backslashes are refused.
- fnmatch's wildcards, as Agent Mail uses them: `*` matches any run of characters, `/`
  included, so `src/*` and `*.md` reach into subdirectories; `?` matches one character;
  `[abc]` and `[!abc]` one character of (not of) the set. `**` is `*`, except that a whole
  `**/` part may also match nothing, so `src/**/x.py` covers `src/x.py`. Case counts.
- A glob whose last part has no wildcard also covers everything beneath it, since that name
  may be a directory: `src/api` covers `src/api/x.py`. (`*.md` does not cover `x.md/y.py`.)
- Two globs overlap when some path is covered by both. Holds on overlapping globs conflict
  unless both are shared; an agent's own holds never conflict with each other.

Why `*` crosses `/`: reservations are advisory, so a false conflict costs a message while a
missed one costs a clobbered file; and agents write `src/*` meaning everything in src.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from taskloom.domain.statuses import TaskStatus
from taskloom.errors import InvalidInput, TooLarge

# A hold tied to a task lasts while its holder holds the task: in progress, or blocked (its lease
# paused, the work not given up). Any other status releases it.
HOLDING = frozenset({TaskStatus.IN_PROGRESS, TaskStatus.BLOCKED})
MAX_GLOB = 200  # characters, after normalising: overlap costs up to the product of two lengths
_UNIVERSE = ((0, 0xD7FF), (0xE000, 0x10FFFF))  # every character text can hold (no surrogates)
_PREFERRED = "a_0x./"  # readable choices for an example path


@dataclass(frozen=True)
class _Chars:
    """A set of characters as sorted, disjoint, inclusive code point ranges."""

    ranges: tuple[tuple[int, int], ...]

    def meet(self, other: _Chars) -> _Chars:
        out, i, j = [], 0, 0
        a, b = self.ranges, other.ranges
        while i < len(a) and j < len(b):
            lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
            if lo <= hi:
                out.append((lo, hi))
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return _Chars(tuple(out))

    def sample(self) -> str | None:
        for c in _PREFERRED:
            if any(lo <= ord(c) <= hi for lo, hi in self.ranges):
                return c
        return chr(self.ranges[0][0]) if self.ranges else None


def _chars(ranges: list[tuple[int, int]], negated: bool = False) -> _Chars:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(r for r in ranges if r[0] <= r[1]):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    if not negated:
        return _Chars(tuple(merged)).meet(_Chars(_UNIVERSE))
    gaps, start = [], 0
    for lo, hi in merged:
        if lo > start:
            gaps.append((start, lo - 1))
        start = hi + 1
    if start <= 0x10FFFF:
        gaps.append((start, 0x10FFFF))
    return _Chars(tuple(gaps)).meet(_Chars(_UNIVERSE))


ANY = _chars([], negated=True)
SLASH = _chars([(ord("/"), ord("/"))])


@dataclass(frozen=True)
class _Token:
    chars: _Chars
    star: bool = False  # any number of characters from `chars`, else exactly one
    skip: int = 0  # a `**/` part's zero-width marker: it may jump past itself, the star and the slash


NOTHING = _Chars(())


def normalise(glob: str) -> str:
    """The glob as stored and compared; InvalidInput says what to fix."""
    text = glob.strip()
    if not text:
        raise InvalidInput(
            "A path glob is empty.", hint="Name files relative to the checkout root, e.g. 'src/api/**'."
        )
    if "\\" in text:
        raise InvalidInput(f"Path glob {glob!r} has a backslash.", hint="Separate path parts with '/'.")
    if text.startswith("/") or re.match(r"[A-Za-z]:(/|$)", text):
        raise InvalidInput(
            f"Path glob {glob!r} is absolute.",
            hint="Name files relative to the checkout root, e.g. 'src/a.py'.",
        )
    directory = text.endswith("/")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidInput(
            f"Path glob {glob!r} climbs out with '..'.", hint="Name files inside the checkout."
        )
    out = "/".join(parts + ["**"] if directory else parts) or "**"
    if len(out) > MAX_GLOB:
        raise TooLarge(
            f"Path glob {out[:40]!r}... is {len(out)} characters; the limit is {MAX_GLOB}.",
            hint="Reserve a shorter glob, e.g. the directory with '/**'.",
        )
    if any(not t.star and not t.chars.ranges for t in _tokens(out)):
        raise InvalidInput(
            f"Path glob {glob!r} matches nothing (an empty [...] set).", hint="Fix the [...] set."
        )
    return out


def _tokens(glob: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "*":
            j = i
            while j < n and glob[j] == "*":
                j += 1
            whole_part = (i == 0 or glob[i - 1] == "/") and j - i >= 2 and j < n and glob[j] == "/"
            if whole_part:
                out.append(_Token(NOTHING, star=True, skip=3))
            out.append(_Token(ANY, star=True))
            i = j
        elif c == "?":
            out.append(_Token(ANY))
            i += 1
        elif c == "[" and (end := _class_end(glob, i)) is not None:
            out.append(_Token(_class(glob[i + 1 : end])))
            i = end + 1
        else:
            out.append(_Token(_chars([(ord(c), ord(c))])))
            i += 1
    return out


def _class_end(glob: str, start: int) -> int | None:
    """Where a `[...]` set closes, as fnmatch reads it (a `]` first in the set is a member)."""
    j = start + 1
    if j < len(glob) and glob[j] == "!":
        j += 1
    if j < len(glob) and glob[j] == "]":
        j += 1
    end = glob.find("]", j)
    return None if end < 0 else end


def _class(body: str) -> _Chars:
    negated = body.startswith("!")
    body = body[1:] if negated else body
    ranges, k = [], 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            ranges.append((ord(body[k]), ord(body[k + 2])))  # a reversed range is empty, as in fnmatch
            k += 3
        else:
            ranges.append((ord(body[k]), ord(body[k])))
            k += 1
    return _chars(ranges, negated)


def _tail_with_slash(tokens: list[_Token], j: int) -> str | None:
    """A string the tokens from `j` match that starts with '/' (the glob reaches beneath a shorter
    match), or None. Normalised globs have no empty sets, so any token after the slash can match."""
    for k in range(j, len(tokens)):
        if SLASH.meet(tokens[k].chars).ranges:
            rest = "".join(t.chars.sample() or "" for t in tokens[k + 1 :] if not t.star)
            return "/" + rest
        if not tokens[k].star:
            return None
    return None


def overlap(a: str, b: str) -> str | None:
    """A path both normalised globs cover, or None when no path is covered by both.

    A breadth-first walk over pairs of positions in the two globs: a star may match nothing or
    take one character the other side offers; two single characters need one in common. The
    states are at most the product of the two lengths, and literal prefixes rule most pairs out
    before the walk.
    """
    pa, pb = _literal_prefix(a), _literal_prefix(b)
    if not (pa.startswith(pb) or pb.startswith(pa)):
        return None
    ta, tb = _tokens(a), _tokens(b)
    dirs = (_may_be_directory(a), _may_be_directory(b))
    seen: dict[tuple[int, int], tuple[tuple[int, int], str] | None] = {(0, 0): None}
    queue = deque([(0, 0)])
    beneath: str | None = None  # a path one glob covers only as a directory: the example of last resort
    while queue:
        i, j = state = queue.popleft()
        if i == len(ta) and j == len(tb):
            return _path(seen, state)
        if beneath is None and (tail := _beneath(ta, tb, i, j, dirs)) is not None:
            beneath = _path(seen, state) + tail
        for nxt, char in _moves(ta, tb, i, j):
            if nxt not in seen:
                seen[nxt] = (state, char)
                queue.append(nxt)
    return beneath


def _beneath(ta: list[_Token], tb: list[_Token], i: int, j: int, dirs: tuple[bool, bool]) -> str | None:
    """Where a glob that may name a directory is done and the other can go on with '/': what it
    goes on with."""
    if dirs[0] and i == len(ta) and j < len(tb):
        return _tail_with_slash(tb, j)
    if dirs[1] and j == len(tb) and i < len(ta):
        return _tail_with_slash(ta, i)
    return None


def _may_be_directory(glob: str) -> bool:
    return not any(c in "*?[" for c in glob.rsplit("/", 1)[-1])


def _moves(ta: list[_Token], tb: list[_Token], i: int, j: int) -> Iterator[tuple[tuple[int, int], str]]:
    x = ta[i] if i < len(ta) else None
    y = tb[j] if j < len(tb) else None
    for tok, step in ((x, (1, 0)), (y, (0, 1))):
        if tok is not None and tok.star:
            yield (i + step[0], j + step[1]), ""
            if tok.skip:
                yield (i + step[0] * tok.skip, j + step[1] * tok.skip), ""
    if x is None or y is None:
        return
    char = x.chars.meet(y.chars).sample()
    if char is None:
        return
    if not x.star and not y.star:
        yield (i + 1, j + 1), char
    elif x.star and not y.star:
        yield (i, j + 1), char
    elif y.star and not x.star:
        yield (i + 1, j), char
    # Two stars taking a common character stay where they are: nothing new to reach.


def _path(seen: dict, state: tuple[int, int]) -> str:
    chars = []
    while (back := seen[state]) is not None:
        state, char = back
        chars.append(char)
    return "".join(reversed(chars))


def _literal_prefix(glob: str) -> str:
    for k, c in enumerate(glob):
        if c in "*?[":
            return glob[:k]
    return glob


def conflicting(exclusive: bool, other_exclusive: bool) -> bool:
    """Holds on overlapping globs by different agents conflict unless both are shared."""
    return exclusive or other_exclusive
