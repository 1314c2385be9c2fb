"""Dashboard sessions: who a browser is, kept on the server and named by an opaque cookie.

Only a token's digest is kept, never the token, and the digest is checked against the tokens on
every request (`WebGuard`), so revoking or expiring a token ends its sessions at once. Sessions live
in memory: a restart logs people out, which is acceptable for a tool run beside a project.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass

from taskloom.clock import Clock

COOKIE = "taskloom_ui"
NAME_COOKIE = "taskloom_name"  # an open dashboard's person: kept apart from the session, see WebGuard.name_of
LIFETIME = 12 * 3600.0  # seconds a session lasts without use
MAX_SESSIONS = 1000  # the oldest go first: a flood of logins cannot grow memory without bound


@dataclass(frozen=True)
class Session:
    sid: str
    csrf: str
    expires: float
    name: str | None = None  # the person's name, used as the agent their actions are attributed to
    token_digest: bytes | None = None  # None: a server without auth (loopback)
    read_only: bool = False
    bound: bool = False  # the token names its agent, so the person's name is fixed


class Sessions:
    def __init__(self, clock: Clock, lifetime: float = LIFETIME) -> None:
        self._clock = clock
        self._lifetime = lifetime
        self._by_id: dict[str, Session] = {}

    def new(self, *, name: str | None, token_digest: bytes | None, read_only: bool, bound: bool = False) -> Session:
        self._sweep()
        session = Session(
            sid=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            expires=self._clock.now() + self._lifetime,
            name=name,
            token_digest=token_digest,
            read_only=read_only,
            bound=bound,
        )
        self._by_id[session.sid] = session
        return session

    def get(self, sid: str | None) -> Session | None:
        session = self._by_id.get(sid or "")
        if session is None:
            return None
        now = self._clock.now()
        if session.expires <= now:
            del self._by_id[session.sid]
            return None
        renewed = dataclasses.replace(session, expires=now + self._lifetime)
        self._by_id[session.sid] = renewed
        return renewed

    def rename(self, session: Session, name: str) -> Session:
        renamed = dataclasses.replace(session, name=name)
        self._by_id[session.sid] = renamed
        return renamed

    def end(self, sid: str | None) -> None:
        self._by_id.pop(sid or "", None)

    def __len__(self) -> int:
        return len(self._by_id)

    def _sweep(self) -> None:
        now = self._clock.now()
        for sid in [s.sid for s in self._by_id.values() if s.expires <= now]:
            del self._by_id[sid]
        while len(self._by_id) >= MAX_SESSIONS:
            # Anonymous sessions (first visits) go before anyone's named or signed-in one.
            victim = min(self._by_id.values(), key=lambda s: (s.name is not None or s.token_digest is not None,
                                                               s.expires))
            del self._by_id[victim.sid]
