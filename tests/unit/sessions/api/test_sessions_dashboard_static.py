"""The dashboard's static files: served with their types, no-cache and a strict policy; only
the listed files; nothing in them loads from elsewhere or writes server data as HTML; the
URL the CLI prints carries the token in the fragment only."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from pilothouse.cli import sessions as cli_sessions
from pilothouse.client import client as client_mod
from pilothouse.operators.sessions.api import app as app_mod
from pilothouse.operators.sessions.api import auth, dashboard


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async def no_cluster() -> client_mod.Client:
        raise AssertionError("the static routes need no cluster")

    # No lifespan: the page's routes use no shared state (no database, no cluster).
    settings = app_mod.Settings(tokens={"t-alice": auth.User("alice")})
    app = app_mod.create_app(settings, no_cluster)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test:8090") as c:
        yield c


@pytest.mark.parametrize("path", ["/", "/dashboard"])
async def test_the_root_redirects_to_the_dashboard(http: httpx.AsyncClient, path: str) -> None:
    resp = await http.get(path)
    assert resp.status_code == 307
    assert resp.headers["location"] == "/dashboard/"


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/dashboard/", "text/html"),
        ("/dashboard/index.html", "text/html"),
        ("/dashboard/dashboard.js", "text/javascript"),
        ("/dashboard/dashboard.css", "text/css"),
    ],
)
async def test_files_are_served_with_type_no_cache_and_policy(
    http: httpx.AsyncClient, path: str, media_type: str
) -> None:
    resp = await http.get(path)  # no Authorization: the page itself holds no data
    assert resp.status_code == 200
    assert resp.headers["content-type"] == f"{media_type}; charset=utf-8"
    assert resp.headers["cache-control"] == "no-cache"
    assert resp.headers["x-content-type-options"] == "nosniff"
    csp = dict(d.strip().split(" ", 1) for d in resp.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == csp["style-src"] == "'self'"
    assert csp["connect-src"] == "'self' ws://api.test:8090 wss://api.test:8090"
    assert csp["frame-ancestors"] == "'none'"


@pytest.mark.parametrize(
    "path", ["/dashboard/app.py", "/dashboard/..%2Fapp.py", "/dashboard/static", "/dashboard/x"]
)
async def test_only_the_listed_files_are_served(http: httpx.AsyncClient, path: str) -> None:
    assert (await http.get(path)).status_code == 404


def test_the_package_ships_exactly_the_listed_files() -> None:
    assert sorted(p.name for p in dashboard.STATIC_DIR.iterdir()) == sorted(dashboard.FILES)


@pytest.mark.parametrize("host", ["evil.test; script-src *", "a b", "x'y", "", None])
def test_an_odd_host_header_is_never_echoed_into_the_policy(host: str | None) -> None:
    policy = dashboard.content_security_policy(host)
    assert "connect-src 'self';" in policy
    assert "*" not in policy and "evil" not in policy


def _text(name: str) -> str:
    return (dashboard.STATIC_DIR / name).read_text()


@pytest.mark.parametrize("name", sorted(dashboard.FILES))
def test_nothing_loads_from_another_origin(name: str) -> None:
    text = _text(name)
    for marker in ("http://", "https://", "@import", "url(", "//cdn", "<iframe"):
        assert marker not in text, f"{name}: {marker}"


def test_the_page_has_no_inline_code_and_only_local_assets() -> None:
    html = _text("index.html")
    refs = re.findall(r'\b(?:src|href)="([^"]*)"', html)
    assert refs and all(r.startswith("/dashboard/") for r in refs), refs
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script (CSP refuses it)"
    assert not re.search(r"\sstyle=|\son[a-z]+=", html), "inline style or handler"
    assert "<style" not in html


def test_the_script_never_writes_html() -> None:
    js = _text("dashboard.js")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in js, sink


def test_the_printed_dashboard_url_carries_the_token_in_the_fragment() -> None:
    url = cli_sessions.dashboard_url("127.0.0.1", 8090, "a+b/c=")
    assert url == "http://127.0.0.1:8090/dashboard/#token=a%2Bb%2Fc%3D"
    assert cli_sessions.dashboard_url("::1", 8090) == "http://[::1]:8090/dashboard/"
