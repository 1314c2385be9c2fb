"""The vendored JavaScript is the npm packages' files, unchanged, and the pages load only it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import taskloom.web

STATIC = Path(taskloom.web.__file__).parent / "static"
TEMPLATES = Path(taskloom.web.__file__).parent / "templates"


def test_each_vendored_file_has_the_sha256_its_readme_records():
    table = re.findall(r"\| `([^`]+\.js)` \|.*\| `([0-9a-f]{64})` \|", (STATIC / "vendor" / "README.md").read_text())
    files = sorted(p.name for p in (STATIC / "vendor").glob("*.js"))
    assert sorted(name for name, _ in table) == files and files
    for name, sha in table:
        assert hashlib.sha256((STATIC / "vendor" / name).read_bytes()).hexdigest() == sha, name


def test_no_template_loads_anything_from_another_origin_or_runs_inline_script():
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"""(src|href)=["'](https?:)?//""", text), template.name
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name
        assert "style=" not in text, template.name
