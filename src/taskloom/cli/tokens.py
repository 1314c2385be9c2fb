"""`taskloom token list|revoke`: the tokens file as people manage it.

Revoking rewrites the file atomically (a temporary file renamed over it, with the same
permissions), so a server re-reading it sees either the old list or the new one, never half. It
holds the file's edit lock (`auth.editing`) while it does, so no `token new` appends in between;
a hand edit meanwhile (which takes no lock) is still noticed and the rewrite done again.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from taskloom.errors import Conflict, InvalidInput, NotFound
from taskloom.server.auth import editing, parse_line

PREFIX_SHOWN = 12  # hex digits of a token's hash shown by `list`, and plenty for `revoke`
_HEX = re.compile(r"^[0-9a-f]{4,64}$")


def entries(path: Path, now: float | None = None) -> list[dict[str, Any]]:
    """One dict per line that is not blank or a comment; broken lines carry `error`."""
    now = time.time() if now is None else now
    out = []
    for number, line in enumerate(_read(path).splitlines(), 1):
        try:
            entry = parse_line(line)
        except (ValueError, TypeError, InvalidInput) as exc:
            out.append({"line": number, "error": f"not a token entry ({exc}); the server ignores it"})
            continue
        if entry is None:
            continue
        raw = json.loads(line)
        out.append({
            "line": number,
            "sha256_prefix": entry.sha256.hex()[:PREFIX_SHOWN],
            "agent": entry.agent,
            "access": "read" if entry.read_only else "write",
            "created": raw.get("created"),
            "expires": raw.get("expires"),
            "expired": entry.expired(now),
        })
    return out


def render(path: Path, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return f"no tokens in {path}"
    lines = [f"{'HASH':{PREFIX_SHOWN}}  {'AGENT':16}  {'ACCESS':6}  {'CREATED':20}  {'EXPIRES':20}  STATE"]
    for r in rows:
        if "error" in r:
            lines.append(f"line {r['line']}: {r['error']}")
            continue
        state = "expired" if r["expired"] else "valid"
        lines.append(
            f"{r['sha256_prefix']}  {r['agent'] or '(any agent)':16}  {r['access']:6}  {r['created'] or '-':20}  "
            f"{r['expires'] or 'never':20}  {state}"
        )
    return "\n".join(lines)


def revoke(path: Path, prefix: str) -> tuple[str, int]:
    """Remove every line whose hash starts with `prefix`; returns (the hash, lines removed)."""
    prefix = prefix.strip().lower()
    if not _HEX.match(prefix):
        raise InvalidInput(
            f"{prefix!r} is not a token hash prefix.",
            hint="Give 4 or more hex digits of the hash, as `taskloom token list` shows them.",
        )
    _read(path)  # a missing or unreadable file is named before any lock file is made beside it
    with editing(path):
        return _revoke(path, prefix)


def _revoke(path: Path, prefix: str) -> tuple[str, int]:
    for _ in range(3):
        before = _key(path)
        lines = _read(path).splitlines(keepends=True)
        hashes = {h for h in map(_hash_of, lines) if h and h.startswith(prefix)}
        if not hashes:
            raise NotFound(f"No token in {path} has a hash starting {prefix}.", hint="`taskloom token list` shows them.")
        if len(hashes) > 1:
            shown = ", ".join(sorted(h[:PREFIX_SHOWN] for h in hashes))
            raise InvalidInput(
                f"{prefix} matches {len(hashes)} tokens in {path}: {shown}.",
                hint="Give more digits of the hash, so that it names one token.",
            )
        kept = [line for line in lines if _hash_of(line) not in hashes]
        if _replace(path, "".join(kept), before):
            return hashes.pop(), len(lines) - len(kept)
    raise Conflict(f"{path} kept changing while it was rewritten.", hint="Run the revoke again.")


def _hash_of(line: str) -> str | None:
    try:
        entry = parse_line(line)
    except (ValueError, TypeError, InvalidInput):
        return None  # a broken line grants nothing; revoking leaves it for a person to fix
    return entry.sha256.hex() if entry else None


def _replace(path: Path, text: str, expected: tuple[int, int, int]) -> bool:
    """Write `text` beside `path` with its permissions, then rename it over `path`, unless `path`
    changed since it was read (a `token new` appending meanwhile); False then, to read it again."""
    mode = os.stat(path).st_mode & 0o777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if _key(path) != expected:
            os.unlink(tmp)
            return False
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def _key(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"No tokens file at {path}.", hint="`taskloom token new --tokens FILE` makes one.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"Cannot read the tokens file {path}: {getattr(exc, 'strerror', None) or exc}.", hint="Check the path."
        ) from None

