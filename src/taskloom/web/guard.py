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
from taskloom.web.sessions import COOKIE, NAME_COOKIE, Session, Sessions

LOGIN_PATH = "/ui/login"


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
        """The person behind the request; raises SignIn when auth is on and there is none.

        A session's token is looked up again on every request, and what it may do comes from that
        answer, not from sign-in: a token revoked, expired, made read-only or bound to an agent
        since then takes effect at once."""
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and given.strip() and self.auth is not None:
            who = self.auth.agent_for(given.strip().encode())
            if who is None:
                raise SignIn
            return Person(who.agent, who.read_only, None, bound=who.agent is not None, bearer=True)
        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            if not self.open:
                raise SignIn
            return Person(self.name_of(request), False, None)
        if session.token_digest is None:
            if not self.open:  # an open dashboard's session, presented to one that now has auth
                raise SignIn
            if session.name is None and (name := self.name_of(request)):
                session = self.sessions.rename(session, name)
            return Person(session.name, False, session)
        who = self.auth.check_digest(session.token_digest) if self.auth is not None else None
        if who is None:
            self.sessions.end(session.sid)  # revoked or expired since sign-in: the session ends now
            raise SignIn
        return Person(who.agent or session.name, who.read_only, session, bound=who.agent is not None)

    def name_of(self, request: Request) -> str | None:
        """On an open dashboard, the name this browser gave (a cookie of its own, so a session
        started afresh, after a link from another site arrived without cookies, gets it back)."""
        try:
            return self._checked_name(request.cookies.get(NAME_COOKIE)) or self.name
        except InvalidInput:
            return self.name

    def sign_in(self, token: str, name: str | None) -> Session:
        """A new session for a token (auth on) or a name (open server). Raises Forbidden, or
        InvalidInput for a name that is missing (a token bound to no agent needs one) or unusable."""
        if self.auth is None:
            given = self._checked_name(name)
            if given is None:
                raise InvalidInput("Give your name: your answers, reviews and messages are recorded under it.",
                                   hint="Type a short name, such as 'alice'.")
            return self.sessions.new(name=given, token_digest=None, read_only=False)
        who: Principal | None = self.auth.agent_for(token.strip().encode()) if token.strip() else None
        if who is None:
            raise Forbidden("That token is not valid here.", hint="Check it was copied whole; taskloom token list shows "
                            "which tokens exist and when they expire.")
        given = self._checked_name(name)
        if who.agent is None and given is None and not who.read_only:
            raise InvalidInput("This token is not bound to an agent: give your name too, so your actions carry it.",
                               hint="Fill in 'Your name' and sign in again.")
        return self.sessions.new(name=who.agent or given, token_digest=digest(token.strip()),
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
            hint = ("Send the request with a token bound to an agent (`taskloom token new --agent NAME`)."
                    if person.bearer else f"Say who you are first: {LOGIN_PATH}.")
            raise InvalidInput("Actions are recorded under a person's name, and this request has none.", hint=hint)
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
