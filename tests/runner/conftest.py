"""Fixtures for the runner's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.runner.kids import Kids


@pytest.fixture
def kids(tmp_path) -> Iterator[Kids]:
    k = Kids(tmp_path)
    try:
        yield k
    finally:
        k.close()
