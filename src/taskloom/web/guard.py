"""Who may see and act on the dashboard: the HTTP transport's rules, plus what browsers need.

- Host and Origin are checked on every request with the same allow-lists as the MCP endpoint
  (`security_for`), which blocks DNS rebinding and other sites' pages.
- With auth configured, a browser signs in with a token once and then carries an HttpOnly,
  SameSite=Strict session cookie; scripts may send the bearer token instead. Without auth
  (loopback only), anyone on this machine may read, and actions are attributed to the name the
  person gives.
- Actions from a cookie session need the session's CSRF token and a same-origin Origin header. A
  bearer request needs neither: browsers never attach that header on their own.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import Response

from taskloom.errors import Forbidden, InvalidInput, ReadOnly
from taskloom.server.auth import Authenticator, Principal, digest
from taskloom.services.agents import check_agent_name
from taskloom.web.sessions import COOKIE, Session, Sessions


@dataclass(frozen=True)
class Person:
    name: str | None  # None: not told yet (open server) or a token not bound to an agent
    read_only: bool
    session: Session | None  # None for a bearer request, or a first visit to an open dashboard
    bound: bool = False  # the token names its agent: the person cannot choose another name
    bearer: bool = False  # the request carried the token itself (a script, not a browser session)


class SignIn(Exception):
    """This request needs a signed-in person; the page answers with the sign-in form."""


class WebGuard:
    def __init__(
        self,
        security: TransportSecuritySettings | None,
        auth: Authenticator | None,
        sessions: Sessions,
        *,
        name: str | None = None,
    ) -> None:
        self.security = security
        self.auth = auth
        self.sessions = sessions
        self.name = name  # who an open (no-auth) dashboard's actions are attributed to by default
        self._checks = TransportSecurityMiddleware(security)

    @property
    def open(self) -> bool:
        return self.auth is None

    async def refusal(self, request: Request) -> Response | None:
        """Host and Origin, as the MCP endpoint checks them. `is_post=False` even for a POST: the
        SDK's POST check asks for a JSON body, and the dashboard's forms are url-encoded."""
        return await self._checks.validate_request(request, is_post=False)

    def person(self, request: Request) -> Person:
        """The person behind the request; raises SignIn when auth is on and there is none."""
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and given.strip() and self.auth is not None:
            who = self.auth.agent_for(given.strip().encode())
            if who is None:
                raise SignIn
            return Person(who.agent, who.read_only, None, bound=who.agent is not None, bearer=True)
        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is not None and session.token_digest is not None and (
            self.auth is None or self.auth.check_digest(session.token_digest) is None
        ):
            self.sessions.end(session.sid)  # revoked or expired since sign-in: the session ends now
            session = None
        if session is None:
            if not self.open:
                raise SignIn
            return Person(self.name, False, None)
        return Person(session.name, session.read_only, session, bound=session.bound)

    def sign_in(self, token: str, name: str | None) -> Session:
        """A new session for a token (auth on) or a name (open server). Raises Forbidden."""
        if self.auth is None:
            return self.sessions.new(name=self._checked_name(name) or self.name, token_digest=None, read_only=False)
        who: Principal | None = self.auth.agent_for(token.strip().encode()) if token.strip() else None
        if who is None:
            raise Forbidden("That token is not valid here.", hint="Check it was copied whole; `taskloom token list` shows "
                            "which tokens exist and when they expire.")
        return self.sessions.new(name=who.agent or self._checked_name(name), token_digest=digest(token.strip()),
                                 read_only=who.read_only, bound=who.agent is not None)

    def check_action(self, request: Request, person: Person, csrf: str | None) -> str:
        """Raises Forbidden unless this person may act from this request; returns the name to act as."""
        if person.read_only:
            raise ReadOnly("This token is read-only: the dashboard shows, but does not act, for it.",
                           hint="Sign in with a token made without --read-only to act. Nothing was changed.")
        if not person.bearer:
            if person.session is None:
                raise Forbidden("This browser has no dashboard session.", hint="Reload the page and try again.")
            self.check_same_origin(request)
            if not csrf or not hmac.compare_digest(csrf.encode(), person.session.csrf.encode()):
                raise Forbidden("This form is out of date (its security token does not match your session).",
                                hint="Reload the page and try again.")
        if not person.name:
            raise InvalidInput("Tell the dashboard your name before acting, so your actions carry it.",
                               hint="Use the name box at the top of the page.")
        return person.name

    def check_same_origin(self, request: Request) -> None:
        """A cookie-carrying POST must come from this dashboard's own pages."""
        origin = request.headers.get("origin")
        allowed = self.security.allowed_origins if self.security is not None else []
        if not origin or origin not in allowed:
            raise Forbidden("This request did not come from the dashboard's own page.",
                            hint="Open the dashboard at its own address and use its forms.")
        site = request.headers.get("sec-fetch-site")
        if site is not None and site != "same-origin":
            raise Forbidden("This request came from another site.", hint="Use the dashboard's own forms.")

    @staticmethod
    def _checked_name(name: str | None) -> str | None:
        name = (name or "").strip()
        if not name:
            return None
        check_agent_name(name)
        return name
