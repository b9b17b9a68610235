"""The sessions dashboard: a static page (``static/``) served by the sessions API itself.

``GET /`` redirects to ``/dashboard/``, which serves ``index.html``; ``/dashboard/<file>``
serves the page's script and style sheet. Only the files in :data:`FILES` are served (no
path from the request ever reaches the file system), each with its content type,
``Cache-Control: no-cache`` (revalidate, so an upgraded API never runs an old script) and a
strict Content-Security-Policy: scripts, styles and fetches from this server only, plus the
WebSocket to this same host; no inline script, no framing.

The page needs no authentication: it holds no data. The user pastes a token (or opens
``/dashboard/#token=…``: a fragment never reaches the server), and the page's own API and
WebSocket calls carry it (see ``static/dashboard.js``).
"""

from __future__ import annotations

import pathlib
import re

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import RedirectResponse

__all__ = ["FILES", "PATH", "STATIC_DIR", "content_security_policy", "router"]

#: Where the dashboard lives.
PATH = "/dashboard/"
#: The page's files (shipped as package data), and what is served for each.
STATIC_DIR = pathlib.Path(__file__).with_name("static")
FILES = {
    "index.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
# A Host header worth echoing into the policy: a name or address and a port, nothing that
# could end the directive or the header.
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")

router = APIRouter(include_in_schema=False)


def content_security_policy(host: str | None) -> str:
    """The page's policy. ``connect-src 'self'`` already covers the WebSocket in current
    browsers (CSP 3); the explicit ``ws://``/``wss://`` of ``host`` is for older ones. A
    ``host`` that is not a plain host[:port] is left out, never echoed."""
    connect = "'self'"
    if host and _HOST.match(host):
        connect += f" ws://{host} wss://{host}"
    return (
        "default-src 'none'; "
        "script-src 'self'; "
        "style-src 'self'; "
        "img-src 'self'; "
        f"connect-src {connect}; "
        "base-uri 'none'; "
        "form-action 'self'; "
        "frame-ancestors 'none'"
    )


def _serve(request: Request, name: str) -> Response:
    media_type = FILES.get(name)
    if media_type is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    # Read per request (in FastAPI's thread pool: the routes are plain functions): the
    # files are small, and no-cache makes browsers ask anyway.
    body = (STATIC_DIR / name).read_bytes()
    return Response(
        body,
        media_type=media_type,
        headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": content_security_policy(request.headers.get("host")),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
        },
    )


@router.get("/")
async def root() -> RedirectResponse:
    """The API's root is the dashboard."""
    return RedirectResponse(PATH, status_code=status.HTTP_307_TEMPORARY_REDIRECT)


@router.get("/dashboard")
async def dashboard_no_slash() -> RedirectResponse:
    """``/dashboard`` → ``/dashboard/`` (the page's relative paths assume the slash)."""
    return RedirectResponse(PATH, status_code=status.HTTP_307_TEMPORARY_REDIRECT)


@router.get(PATH)
def index(request: Request) -> Response:
    """The dashboard page."""
    return _serve(request, "index.html")


@router.get(PATH + "{name}")
def static_file(request: Request, name: str) -> Response:
    """One of the page's files (:data:`FILES`); 404 for anything else."""
    return _serve(request, name)
