"""The sessions dashboard in headless Chromium (Debian's package, driven by Playwright).

The API runs for real over HTTP (uvicorn on 127.0.0.1, a free port) with the whole sessions
operator -- the Session controller and the quota webhook -- on the in-process simulated
cluster, which has a SessionTemplate ``py`` and a SessionQuota of one running session per
user. Alice signs in and drives a session through its life from the page alone, every
change arriving through the WebSocket (the page is never reloaded); a create over quota
shows the webhook's 403 message, an invalid name the API's 422 details; a bad token is
refused with a message; a token in the URL fragment signs in and leaves the address bar; a
dropped socket shows the reconnecting indicator and recovers; Bob's session never appears
on Alice's page, nor hers on his. No request leaves the server, and no token is ever in a
URL the browser requests.

Chromium is launched once for the module (:mod:`pilothouse.testing.browser`), each test
gets its own browser context (no shared storage). Set ``PILOTHOUSE_DASHBOARD_SCREENSHOT``
to a path to save a screenshot of the page with a running session.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import pathlib
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
import uvicorn
from playwright import async_api

from pilothouse import crd
from pilothouse.apiserver import server as server_mod
from pilothouse.client import client as client_mod
from pilothouse.operators.sessions import lifecycle
from pilothouse.operators.sessions import operator as operator_mod
from pilothouse.operators.sessions.api import app as app_mod
from pilothouse.operators.sessions.api import auth
from pilothouse.runtime import manager as manager_mod
from pilothouse.testing import browser as browser_mod
from pilothouse.testing import eventually, fixtures

# One event loop for the module: the browser, the cluster and the API live as long as it.
pytestmark = pytest.mark.asyncio(loop_scope="module")

NS = "default"
TOKENS = {"t-alice": auth.User("alice"), "t-bob": auth.User("bob")}
API_VERSION = lifecycle.SESSION.api_version
QUOTA_MESSAGE = 'over the limit of 1 set by SessionQuota "team"'
# The simulated cluster starts pods in well under a second; this is the slow-machine bound.
CONVERGE_MS = 20_000
UI_MS = 5_000


def _obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


class _Server(uvicorn.Server):
    """uvicorn inside the test's loop: signals stay pytest's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclasses.dataclass(frozen=True)
class Env:
    """The running system: the dashboard's base URL and a client of the cluster."""

    base: str
    kube: client_mod.Client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    tmp = tmp_path_factory.mktemp("dashboard")
    async with contextlib.AsyncExitStack() as stack:
        srv = server_mod.APIServer(server_mod.ServerConfig(simulation=True, nodes=1))
        await srv.start()
        stack.push_async_callback(srv.stop)
        kube = client_mod.Client(fixtures.client_config(srv))
        stack.push_async_callback(kube.close)
        for model in operator_mod.OPERATOR.crds:
            await kube.apply(crd.definition(model), field_manager="test", force=True)
        await kube.create(
            _obj("SessionTemplate", "py", {"image": "python:3.12", "displayName": "Python 3.12"})
        )
        await kube.create(_obj("SessionQuota", "team", {"perUser": {"sessions": 1}}))
        await kube.create(_obj("Session", "bob-1", {"user": "bob", "template": "py"}))

        mgr = manager_mod.Manager(
            client_mod.Client(fixtures.client_config(srv)),
            manager_mod.ManagerOptions(
                metrics_bind_address=None, webhook_port=0, webhook_register=True
            ),
        )
        operator_mod.setup(mgr)
        handle = fixtures.ManagerHandle(mgr).start()
        stack.push_async_callback(handle.stop)
        await handle.wait_started()

        async def registered() -> bool:
            return bool(mgr.webhooks_registered)

        await eventually.eventually_async(registered, message="webhooks registered")

        async def factory() -> client_mod.Client:
            return client_mod.Client(fixtures.client_config(srv))

        settings = app_mod.Settings(
            tokens=TOKENS,
            namespace=NS,
            database_url=f"sqlite+aiosqlite:///{tmp / 'sessions.db'}",
            heartbeat_interval=0.2,
        )
        server = _Server(
            uvicorn.Config(
                app_mod.create_app(settings, factory),
                host="127.0.0.1",
                port=0,
                log_level="warning",
                timeout_graceful_shutdown=5,
            )
        )
        task = asyncio.create_task(server.serve())

        async def stop_server() -> None:
            server.should_exit = True
            await task

        stack.push_async_callback(stop_server)

        async def started() -> bool:
            if task.done():
                task.result()  # start-up failed: raise why
            return server.started

        await eventually.eventually_async(started, timeout=30, message="uvicorn started")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield Env(f"http://127.0.0.1:{port}", kube)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[async_api.Browser]:
    async with browser_mod.launch() as b:
        yield b


@dataclasses.dataclass
class Page:
    """A page in a fresh context, with what it asked the server for and what went wrong."""

    page: async_api.Page
    urls: list[str]
    problems: list[str]


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: async_api.Browser, env: Env) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1360, "height": 720})
    context.set_default_timeout(UI_MS)
    pg = await context.new_page()
    out = Page(pg, [], [])
    pg.on("request", lambda r: out.urls.append(r.url))
    pg.on("pageerror", lambda exc: out.problems.append(f"uncaught: {exc}"))

    def console(msg: async_api.ConsoleMessage) -> None:
        # A Content-Security-Policy violation is reported on the console only.
        if "Content Security Policy" in msg.text:
            out.problems.append(msg.text)

    pg.on("console", console)
    try:
        yield out
    finally:
        await context.close()
    assert out.problems == []
    for url in out.urls:
        assert url.startswith(env.base), f"a request left the server: {url}"
        assert "t-alice" not in url and "t-bob" not in url, f"a token in a URL: {url}"


def row(page: async_api.Page, name: str) -> async_api.Locator:
    return page.locator(f'[data-testid="session-row"][data-name="{name}"]')


async def sign_in(page: async_api.Page, base: str, token: str) -> None:
    await page.goto(base + "/")
    await page.get_by_label("Access token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


async def test_a_session_through_its_life_live_on_the_page(page: Page, env: Env) -> None:
    pg = page.page
    expect = async_api.expect
    await sign_in(pg, env.base, "t-alice")
    await expect(pg).to_have_url(env.base + "/dashboard/")
    await expect(pg.get_by_test_id("connection-status")).to_have_text("Live", timeout=UI_MS)
    await expect(pg.get_by_test_id("no-sessions")).to_be_visible()
    templates = pg.get_by_label("Template")
    await expect(templates.locator("option")).to_have_text(["Python 3.12 (py) — python:3.12"])
    # Reloading would lose this marker: every change below must arrive through the socket.
    await pg.evaluate("window.__notReloaded = true")

    await pg.get_by_label("Name").fill("w1")
    await pg.get_by_role("button", name="Create session").click()
    w1 = row(pg, "w1")
    await expect(w1.get_by_test_id("session-phase")).to_have_text("Running", timeout=CONVERGE_MS)
    await expect(w1.get_by_test_id("session-source")).to_have_text("py")
    await expect(w1.get_by_test_id("session-state")).to_have_text("running")
    await expect(w1.get_by_role("link")).to_have_attribute(
        "href", re.compile(r"^http://session-w1\.default\.svc\.cluster\.local:\d+$")
    )
    await expect(w1.get_by_test_id("session-statusAge")).to_have_text(re.compile(r"\d+ s ago"))
    await expect(w1.get_by_role("button", name="Resume w1")).to_be_disabled()
    screenshot = os.environ.get("PILOTHOUSE_DASHBOARD_SCREENSHOT")
    if screenshot:
        await pg.screenshot(path=pathlib.Path(screenshot), full_page=True)

    # An invalid name: the API's 422 details, field by field.
    await pg.get_by_label("Name").fill("Not_A_Label")
    await pg.get_by_role("button", name="Create session").click()
    await expect(pg.get_by_test_id("error")).to_contain_text("name: String should match pattern")

    # A second running session is over Alice's quota: the webhook's 403, verbatim.
    await pg.get_by_label("Name").fill("w2")
    await pg.get_by_role("button", name="Create session").click()
    await expect(pg.get_by_test_id("error")).to_contain_text(QUOTA_MESSAGE)
    await expect(row(pg, "w2")).to_have_count(0)

    await w1.get_by_role("button", name="Hibernate w1").click()
    await expect(w1.get_by_test_id("session-phase")).to_have_text("Hibernated", timeout=CONVERGE_MS)
    await expect(w1.get_by_test_id("session-stoppedBy")).to_have_text("user")
    await expect(w1.get_by_role("button", name="Hibernate w1")).to_be_disabled()

    await w1.get_by_role("button", name="Resume w1").click()
    await expect(w1.get_by_test_id("session-phase")).to_have_text("Running", timeout=CONVERGE_MS)

    pg.once("dialog", lambda dialog: dialog.accept())  # the "Terminate w1?" confirmation
    await w1.get_by_role("button", name="Terminate w1").click()
    await expect(w1.get_by_test_id("session-phase")).to_have_text("Terminated", timeout=CONVERGE_MS)
    for action in ("Hibernate", "Resume", "Terminate"):
        await expect(w1.get_by_role("button", name=f"{action} w1")).to_be_disabled()

    # Bob's session was there all along; it never reached Alice's page.
    await expect(pg.get_by_test_id("session-row")).to_have_count(1)
    assert await pg.evaluate("window.__notReloaded === true")


async def test_a_bad_token_is_refused_with_a_message(page: Page, env: Env) -> None:
    pg = page.page
    await sign_in(pg, env.base, "t-mallory")
    await async_api.expect(pg.get_by_test_id("error")).to_have_text(
        "The token was refused: missing or invalid bearer token"
    )
    await async_api.expect(pg.get_by_label("Access token")).to_be_visible()
    await async_api.expect(pg.get_by_test_id("sessions-table")).to_be_hidden()
    assert await pg.evaluate("sessionStorage.length") == 0


async def test_a_token_in_the_fragment_signs_in_and_leaves_the_address_bar(
    page: Page, env: Env
) -> None:
    pg = page.page
    expect = async_api.expect
    await pg.goto(env.base + "/dashboard/#token=t-bob")
    await expect(pg.get_by_test_id("connection-status")).to_have_text("Live")
    await expect(pg).to_have_url(env.base + "/dashboard/")
    # Bob sees his session and none of Alice's.
    await expect(pg.get_by_test_id("session-row")).to_have_count(1)
    await expect(row(pg, "bob-1").get_by_test_id("session-phase")).to_have_text(
        "Running", timeout=CONVERGE_MS
    )
    # The tab remembers the token across a reload...
    await pg.reload()
    await expect(pg.get_by_test_id("connection-status")).to_have_text("Live")
    # ...until Bob logs out.
    await pg.get_by_role("button", name="Log out").click()
    await expect(pg.get_by_label("Access token")).to_be_visible()
    assert await pg.evaluate("sessionStorage.length") == 0


async def test_a_dropped_socket_shows_reconnecting_then_recovers(page: Page, env: Env) -> None:
    pg = page.page
    expect = async_api.expect
    sockets: list[async_api.WebSocketRoute] = []
    refuse = asyncio.Event()
    refuse.set()

    async def route(ws: async_api.WebSocketRoute) -> None:
        # The first socket goes to the server; while ``refuse`` is set, later ones are
        # closed at once (the API unreachable), so the page stays in "reconnecting".
        if sockets and refuse.is_set():
            await ws.close(code=1011, reason="test: API down")
            return
        ws.connect_to_server()
        sockets.append(ws)

    await pg.route_web_socket(re.compile(r"/api/v1/ws/sessions$"), route)
    await sign_in(pg, env.base, "t-bob")
    status = pg.get_by_test_id("connection-status")
    await expect(status).to_have_text("Live")
    await sockets[0].close(code=1012, reason="test: API restarting")
    await expect(status).to_have_text(re.compile(r"^Disconnected, reconnecting in \d+ s"))
    refuse.clear()
    await expect(status).to_have_text("Live", timeout=CONVERGE_MS)
    assert len(sockets) == 2
    await expect(row(pg, "bob-1")).to_have_count(1)
