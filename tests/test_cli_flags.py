"""Bad flag values on the command line: one line naming the flag, exit 2, never a traceback."""

from __future__ import annotations

import pytest

from tests.test_cli import refused, taskloom


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["serve", "--transport", "http", "--port", "99999"], ["--port 99999", "65535"]),
        (["serve", "--transport", "http", "--port", "-1"], ["--port -1"]),
        (["serve", "--port", "abc"], ["--port", "'abc'", "taskloom serve --help"]),
        (["serve", "--lease-seconds", "soon"], ["--lease-seconds"]),
        (["serve", "--transport", "carrier-pigeon"], ["--transport"]),
        (["artifacts", "ls", "--limit", "many"], ["--limit"]),
        (["status", "--no-such-flag"], ["--no-such-flag"]),
        (["no-such-command"], ["no-such-command"]),
    ],
)
def test_a_bad_flag_value_is_one_line_naming_the_flag(tmp_path, args, needles):
    refused(taskloom(*args, cwd=tmp_path), "invalid_input", *needles)
    assert not (tmp_path / ".taskloom").exists()
