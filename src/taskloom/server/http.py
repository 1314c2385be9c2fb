"""HTTP hardening shared by the SSE and streamable HTTP transports."""

from __future__ import annotations

import hmac
import ipaddress
import json
import socket

import psutil
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


WILDCARDS = {"0.0.0.0", "::", ""}


def machine_names() -> list[str]:
    """This machine's host names and interface addresses: what clients use to reach a wildcard bind."""
    found = {socket.gethostname(), socket.getfqdn()}
    for addrs in psutil.net_if_addrs().values():
        found |= {a.address.split("%")[0] for a in addrs if a.family in (socket.AF_INET, socket.AF_INET6)}
    return sorted(found)


def security_for(host: str, extra_hosts: list[str] | None = None) -> TransportSecuritySettings:
    """DNS-rebinding protection: only names that really are this server pass the Host/Origin check."""
    names = ["127.0.0.1", "localhost", "[::1]"]
    bound = machine_names() if host in WILDCARDS else ([] if is_loopback(host) else [host])
    for name in [*bound, *(extra_hosts or [])]:
        names.append(f"[{name}]" if ":" in name and not name.startswith("[") else name)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{n}:*" for n in names] + names,
        allowed_origins=[f"http://{n}:*" for n in names] + [f"https://{n}:*" for n in names],
    )


class BearerAuth:
    """Require `Authorization: Bearer <token>` on every HTTP request, compared in constant time."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, given = header.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self._token):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": "unauthorized", "message": "Send Authorization: Bearer <token>."}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="taskloom"'),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
