"""Bearer tokens for the HTTP transports: one shared token, and a tokens file of per-agent, expiring ones.

The tokens file is JSON Lines, one token per line, and holds only SHA-256 hashes:

    {"sha256": "<64 hex>", "agent": "alice", "expires": "2030-01-01T00:00:00Z", "access": "read", "created": "..."}

`agent`, `expires` and `access` are optional (null or absent: any agent, never expires, write, so
files written before `access` existed keep their meaning). A `read` token may call only tools
annotated read-only. Blank lines and
lines starting with `#` are ignored. `taskloom token new` appends lines; deleting a line revokes
its token. The server re-reads the file when it changes (checked on every request by one stat),
so new and revoked tokens take effect without a restart.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from taskloom.errors import InvalidInput
from taskloom.services.agents import check_agent_name

log = logging.getLogger(__name__)

# The ASGI scope key under which BearerAuth leaves the request's Principal (absent: no token needed).
PRINCIPAL_SCOPE_KEY = "taskloom.principal"
ACCESS = ("read", "write")  # a tokens-file entry's `access`, in the words people write
TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 256 random bits, 43 characters
FILE_MODE = 0o600
_TTL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def digest(token: str | bytes) -> bytes:
    return hashlib.sha256(token.encode() if isinstance(token, str) else token).digest()


def parse_ttl(text: str) -> float:
    """`90s`, `30m`, `12h`, `7d`, `2w` as seconds."""
    m = _TTL.match(text)
    if not m or float(m.group(1)) <= 0:
        raise InvalidInput(f"The time to live {text!r} is not usable.", hint="Write it like 30m, 12h, 7d or 2w.")
    return float(m.group(1)) * _TTL_UNITS[m.group(2)]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Principal:
    """Who a bearer token is: the agent it is bound to (None: any agent) and whether it may only read."""

    agent: str | None = None
    read_only: bool = False


@dataclass(frozen=True)
class TokenEntry:
    sha256: bytes
    agent: str | None = None
    expires: float | None = None  # unix seconds
    read_only: bool = False

    def expired(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires


def parse_line(line: str) -> TokenEntry | None:
    """One line of the tokens file; None for blank and comment lines. Raises ValueError."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    data = json.loads(line)
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    sha = data.get("sha256")
    if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise ValueError("sha256 must be 64 lowercase hex digits")
    agent = data.get("agent")
    if agent is not None:
        if not isinstance(agent, str):
            raise ValueError("agent must be a string")
        check_agent_name(agent)
    expires = data.get("expires")
    if expires is not None:
        when = datetime.fromisoformat(expires) if isinstance(expires, str) else None
        if when is None or when.tzinfo is None:
            raise ValueError("expires must be an ISO 8601 time with a zone, e.g. 2030-01-01T00:00:00Z")
        expires = when.timestamp()
    access = data.get("access")
    if access is not None and access not in ACCESS:
        # Guessing would be worse either way: a typo read as write grants too much, read as read too little.
        raise ValueError('access must be "read" or "write" (absent means write)')
    return TokenEntry(bytes.fromhex(sha), agent, expires, read_only=access == "read")


def parse_tokens(text: str, source: str, *, strict: bool) -> list[TokenEntry]:
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            entry = parse_line(line)
        except (ValueError, TypeError, InvalidInput) as exc:
            problem = f"{source} line {number} is not a token entry ({exc})."
            if strict:
                raise InvalidInput(problem, hint="Fix or delete that line; `taskloom token new` writes valid ones.")
            log.warning("%s The line is ignored: it grants nothing.", problem)
            continue
        if entry is not None:
            entries.append(entry)
    return entries


class TokensFile:
    """The tokens file, re-read whenever its mtime, size or inode changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            stat = path.stat()
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(
                f"Cannot read the tokens file {path}: {exc.strerror or exc}.",
                hint="Create it with `taskloom token new --tokens FILE`, or fix the path.",
            ) from None
        # At start a broken line is an error the operator sees; later, while serving, it is skipped.
        self._entries = parse_tokens(text, str(path), strict=True)
        self._key = _key(stat)
        if stat.st_mode & 0o077:
            log.warning("%s is readable by other users; `chmod 600 %s` (it holds token hashes)", path, path)

    def entries(self) -> list[TokenEntry]:
        try:
            stat = self.path.stat()
        except OSError:
            if self._key is not None:
                log.warning("the tokens file %s is gone: every token from it is refused", self.path)
            self._key, self._entries = None, []
            return self._entries
        if _key(stat) != self._key:
            try:
                text = self.path.read_text(encoding="utf-8")
            except OSError as exc:
                log.warning("cannot re-read %s (%s): every token from it is refused", self.path, exc)
                text = ""
            self._entries = parse_tokens(text, str(self.path), strict=False)
            self._key = _key(stat)
        return self._entries


def _key(stat: os.stat_result) -> tuple[int, int, int]:
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def scope_principal(scope: Any) -> Principal | None:
    """The Principal BearerAuth left in an ASGI scope (None: the server asks for no token)."""
    found = scope.get(PRINCIPAL_SCOPE_KEY) if isinstance(scope, dict) else None
    return found if isinstance(found, Principal) else None


def token_principal(context: Any) -> Principal | None:
    """The Principal of the request's bearer token, if any.

    BearerAuth puts it in the ASGI scope; over HTTP and SSE the SDK hands tools the Starlette
    request that carried the message (ServerMessageMetadata.request_context, read by the runner
    into `request_context.request`). No request (stdio, in-memory) means no token.
    """
    try:
        request = context.request_context.request
    except (AttributeError, ValueError):  # no request context: a direct call
        return None
    return scope_principal(getattr(request, "scope", None))


def token_agent(context: Any) -> str | None:
    """The agent the request's bearer token is bound to, if any."""
    who = token_principal(context)
    return who.agent if who else None


def token_read_only(context: Any) -> bool:
    """Whether the request's bearer token may only read (no token: it may write)."""
    who = token_principal(context)
    return who is not None and who.read_only


class Authenticator:
    """Decides who a bearer token is: any agent (the shared token, or an unbound entry) or one
    named agent, with write access or read only. None means refused, deliberately not saying why
    (missing, wrong, expired or revoked)."""

    def __init__(
        self, shared: str | None, tokens: TokensFile | None, now: Callable[[], float] = time.time
    ) -> None:
        # The shared token is compared by hash too, so its length does not show in the timing.
        self._shared = digest(shared) if shared else None
        self._tokens = tokens
        self._now = now

    def agent_for(self, presented: bytes) -> Principal | None:
        """Who the presented token is; None: refused."""
        return self.check_digest(digest(presented))

    def check_digest(self, sha: bytes) -> Principal | None:
        """Who the token with this SHA-256 is, against the tokens as they are now; None: refused.

        For callers that keep only the digest (the dashboard's sessions): a token revoked or
        expired since it was first checked is refused from then on.
        """
        # Constant time: every entry is compared with hmac.compare_digest and the loop never stops
        # early, so the time taken depends only on the number of entries, not on which (if any) matched.
        matched: TokenEntry | None = None
        for entry in self._tokens.entries() if self._tokens else []:
            if hmac.compare_digest(sha, entry.sha256) and matched is None:
                matched = entry
        shared = self._shared is not None and hmac.compare_digest(sha, self._shared)
        if matched is not None and not matched.expired(self._now()):
            return Principal(matched.agent, matched.read_only)
        if shared:
            return Principal(None, read_only=False)  # one token for everyone: it must be able to work
        return None


@contextmanager
def editing(path: Path) -> Iterator[None]:
    """Hold the tokens file's edit lock: `token new` appending and `token revoke` rewriting take turns.

    Without it a revoke that read the file could rename its rewrite over a line appended meanwhile
    (two runners minting and revoking their workers' tokens at once lost one in ~3,000). The lock is
    a file beside the tokens file, not the file itself, because a revoke replaces that file's inode;
    readers (the servers) never take it: they only ever see whole versions.
    """
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock, also when the process dies holding it


def new_token(
    path: Path, agent: str | None, ttl: float | None, now: float | None = None, *, read_only: bool = False
) -> tuple[str, dict[str, Any]]:
    """Make a random token, append its hash entry to `path` (created 0600), return the token and entry."""
    if agent is not None:
        check_agent_name(agent)
    now = time.time() if now is None else now
    token = secrets.token_urlsafe(TOKEN_BYTES)
    entry = {
        "sha256": digest(token).hex(),
        "agent": agent,
        "expires": iso(now + ttl) if ttl else None,
        "access": "read" if read_only else "write",
        "created": iso(now),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with editing(path):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, FILE_MODE)
        try:
            size = os.fstat(fd).st_size
            glue = b"\n" if size and os.pread(fd, 1, size - 1) != b"\n" else b""  # a hand edit without a final newline
            # One write() of one line: a server re-reading the file sees the whole line or none of it.
            os.write(fd, glue + (json.dumps(entry) + "\n").encode())
        finally:
            os.close(fd)
    return token, entry
