"""Requests the editor answers: only those addressed to it, and changes only from its own page.

A page on another site can make the browser send requests to 127.0.0.1 (DNS rebinding: a name that
resolves to 127.0.0.1 gives the attacker's page a matching origin, but its Host header still names
the attacker's domain), and any page can POST to a local port. `LocalRequestGuard` refuses both
before gradio sees them:

- the Host header must name an address the server was bound to (or localhost, for a local bind);
- a request that can change state (anything but GET/HEAD/OPTIONS, and every websocket) that carries
  an Origin must come from one of those same hosts.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def allowed_hosts(bound: str) -> frozenset[str] | None:
    """The Host names a server bound to `bound` answers to; None when bound to every interface."""
    if bound in ANY_ADDRESS:
        return None
    return LOOPBACK | {bound.strip("[]").lower()}


def host_name(value: str) -> str:
    """'127.0.0.1:7860' -> '127.0.0.1', '[::1]:7860' -> '::1', 'Example.org' -> 'example.org'."""
    try:
        return (urlsplit(f"//{value.strip()}").hostname or "").lower()
    except ValueError:
        return ""


class LocalRequestGuard:
    """ASGI middleware refusing (403) requests for other hosts and cross-site state changes."""

    def __init__(self, app, hosts: Iterable[str] | None) -> None:
        self.app = app
        self.hosts = frozenset(hosts) if hosts is not None else None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            problem = self.problem(scope)
            if problem:
                await _refuse(scope, send, problem)
                return
        await self.app(scope, receive, send)

    def problem(self, scope) -> str | None:
        """Why the request is refused, or None."""
        headers = {k.lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}  # bytes keys
        host = host_name(headers.get(b"host", ""))
        if self.hosts is not None and host not in self.hosts:
            return "unexpected Host header"
        changes = scope["type"] == "websocket" or scope.get("method", "GET") not in SAFE_METHODS
        origin = headers.get(b"origin")
        if changes and origin is not None:
            origin_host = host_name(urlsplit(origin).netloc) if origin != "null" else ""
            expected = self.hosts if self.hosts is not None else {host}
            if origin_host not in expected:
                return "cross-site request refused"
        return None


async def _refuse(scope, send, message: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = message.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})
