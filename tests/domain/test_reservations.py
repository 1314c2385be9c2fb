"""Glob overlap for file reservations, against Python's own fnmatch as the oracle."""

from __future__ import annotations

from fnmatch import fnmatchcase
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskloom.domain.reservations import conflicting, normalise, overlap
from taskloom.errors import InvalidInput, TooLarge


def covers(glob: str, path: str) -> bool:
    """The documented rule, spelt with fnmatch: some `**/` parts dropped, and the glob matching the
    path or, if its last part has no wildcard, a directory above it."""
    parts = glob.split("/")
    optional = [k for k, p in enumerate(parts[:-1]) if len(p) >= 2 and set(p) == {"*"}]
    prefixes = [path]
    if not any(c in "*?[" for c in parts[-1]):
        prefixes += [path[:k] for k, c in enumerate(path) if c == "/"]
    for drop in product([False, True], repeat=len(optional)):
        gone = {k for k, d in zip(optional, drop, strict=True) if d}
        alt = "/".join(p for k, p in enumerate(parts) if k not in gone)
        if any(fnmatchcase(prefix, alt) for prefix in prefixes):
            return True
    return False


@pytest.mark.parametrize(
    "a, b",
    [
        ("src/**", "src/a.py"),
        ("*.md", "docs/x.md"),  # `*` crosses `/`, as in fnmatch
        ("src/*", "src/a/b.py"),
        ("src/api", "src/api/x.py"),  # a name may be a directory
        ("docs/", "docs/guide/intro.md"),
        ("src/**/x.py", "src/x.py"),  # a whole `**/` part may match nothing
        ("**", "anything/at/all"),
        ("[ab].txt", "b.txt"),
        ("a?c", "abc"),
        ("src/*.py", "src/*_test.py"),
    ],
)
def test_globs_that_share_a_path_overlap_and_the_example_is_covered_by_both(a, b):
    for x, y in ((a, b), (b, a)):
        example = overlap(normalise(x), normalise(y))
        assert example is not None, (x, y)
        assert covers(normalise(x), example) and covers(normalise(y), example), example


@pytest.mark.parametrize(
    "a, b",
    [
        ("src/a.py", "src/b.py"),
        ("src/a", "src/ab"),  # beneath means after a '/', not a longer name
        ("src/*.py", "tests/*.py"),
        ("[ab].txt", "c.txt"),
        ("[!a]x", "ax"),
        ("*.md", "*.py"),  # a wildcard last part names files: `*.md` does not cover `x.md/y.py`
        ("docs/**/*.md", "src/**"),
        ("x*y", "*z"),
    ],
)
def test_globs_that_share_no_path_do_not_overlap(a, b):
    assert overlap(normalise(a), normalise(b)) is None
    assert overlap(normalise(b), normalise(a)) is None


def test_the_example_prefers_a_path_both_match_over_one_beneath_a_match():
    assert overlap("src/**", "src/a.py") == "src/a.py"
    assert overlap("*.md", "docs/x.md") == "docs/x.md"


_PIECES = ["a", "b", ".", "/", "*", "**/", "?", "[ab]", "[!a]"]
globs = st.lists(st.sampled_from(_PIECES), min_size=1, max_size=6).map("".join)
paths = st.lists(st.sampled_from("ab/."), min_size=1, max_size=6).map("".join)


def _normal(glob: str) -> str | None:
    try:
        return normalise(glob)
    except InvalidInput:
        return None


@settings(max_examples=400, deadline=None)
@given(globs, globs, st.lists(paths, max_size=20))
def test_overlap_agrees_with_fnmatch_both_ways(a, b, samples):
    a, b = _normal(a), _normal(b)
    if a is None or b is None:
        return
    example = overlap(a, b)
    if example is not None:  # never a conflict without a path to show for it
        assert covers(a, example) and covers(b, example), (a, b, example)
    for path in samples:  # never a shared path without a conflict
        if covers(a, path) and covers(b, path):
            assert example is not None, (a, b, path)


@pytest.mark.parametrize(
    "raw, stored",
    [
        ("./src//api/", "src/api/**"),
        ("  src/a.py ", "src/a.py"),
        (".", "**"),
        ("src/./a.py", "src/a.py"),
    ],
)
def test_globs_are_normalised_before_they_are_stored_and_compared(raw, stored):
    assert normalise(raw) == stored


@pytest.mark.parametrize(
    "raw, says",
    [
        ("", "empty"),
        ("/etc/passwd", "absolute"),
        ("C:/work/a.py", "absolute"),
        ("src/../../x", "'..'"),
        ("src\\a.py", "backslash"),
        ("[z-a].py", "matches nothing"),
    ],
)
def test_a_glob_that_cannot_name_files_in_the_checkout_is_refused_with_the_reason(raw, says):
    with pytest.raises(InvalidInput) as caught:
        normalise(raw)
    assert says in caught.value.message


def test_a_very_long_glob_is_refused_as_too_large():
    with pytest.raises(TooLarge):
        normalise("a/" * 150)


def test_star_heavy_globs_of_the_longest_allowed_kind_are_still_decided():
    # The walk visits each pair of positions once: 200 x 200 here, the worst a caller can ask.
    a, b, c = normalise("*a" * 100), normalise("*b" * 100), normalise("*ab" * 66 + "*a")
    assert overlap(a, b) is None  # a name cannot end in both
    assert overlap(a, c) is not None


def test_only_two_shared_holds_are_compatible():
    assert conflicting(True, True) and conflicting(True, False) and conflicting(False, True)
    assert not conflicting(False, False)
