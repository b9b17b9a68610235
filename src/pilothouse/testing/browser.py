"""Headless Chromium for browser tests: Debian's ``chromium`` package, driven by Playwright.

:func:`launch` starts the system's Chromium through Playwright's async API and yields a
:class:`playwright.async_api.Browser`; make one per test module and a fresh context
(``await browser.new_context()``) per test, since starting the browser is what costs time.

Playwright's own browser download is never used (never run ``playwright install``): the
executable is :func:`chromium_path`, the Debian package (``scripts/system-packages.sh``
installs it; ``make test`` runs that). Chromium runs headless, without its sandbox (test
containers often run as root, where the sandbox cannot start), without GPU, QUIC, sync,
component updates or other background traffic: a test's browser only talks to the servers
the test opens. Each launch gets a fresh temporary profile (Playwright creates one and
removes it at close), so nothing is shared between runs.

Caveat: Playwright's driver is released against one Chromium version; Debian's is usually
newer. The DevTools protocol calls the tests use are stable across versions, but a
protocol change would show up here first as a launch or page error.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Sequence

from playwright import async_api

__all__ = ["CHROMIUM_ARGS", "ENV_CHROMIUM", "ChromiumMissing", "chromium_path", "launch"]

#: An explicit Chromium executable, overriding the search (e.g. a non-Debian layout).
ENV_CHROMIUM = "PILOTHOUSE_CHROMIUM"
_DEBIAN_CHROMIUM = "/usr/bin/chromium"

#: Flags for a quiet, deterministic headless browser (see the module docstring).
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


class ChromiumMissing(RuntimeError):
    """No Chromium executable was found."""


def chromium_path() -> str:
    """The Chromium to run: ``$PILOTHOUSE_CHROMIUM``, else ``/usr/bin/chromium``, else
    ``chromium`` on ``PATH``. :class:`ChromiumMissing` (saying what to install) when none
    exists; Playwright's browser download is never a fallback."""
    explicit = os.environ.get(ENV_CHROMIUM)
    if explicit:
        return _executable(explicit)
    if os.access(_DEBIAN_CHROMIUM, os.X_OK):
        return _DEBIAN_CHROMIUM
    found = shutil.which("chromium")
    if found:
        return found
    raise ChromiumMissing(
        "no chromium executable: install Debian's chromium package "
        "(apt-get install chromium, or run scripts/system-packages.sh); "
        "Playwright's browser download is never used"
    )


def _executable(path: str | os.PathLike[str]) -> str:
    """``path`` as a string, if it is an executable; ChromiumMissing otherwise."""
    if not os.access(path, os.X_OK):
        raise ChromiumMissing(f"{os.fspath(path)} is not an executable: install Debian's chromium")
    return os.fspath(path)


@contextlib.asynccontextmanager
async def launch(
    *,
    executable: str | os.PathLike[str] | None = None,
    extra_args: Sequence[str] = (),
    timeout_ms: float = 30_000,
) -> AsyncIterator[async_api.Browser]:
    """Headless Chromium (see the module docstring) for the ``async with`` block; closed,
    with Playwright's driver, at the end. ``executable`` defaults to :func:`chromium_path`."""
    path = chromium_path() if executable is None else _executable(executable)
    async with async_api.async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=path,
            headless=True,
            chromium_sandbox=False,
            args=[*CHROMIUM_ARGS, *extra_args],
            timeout=timeout_ms,
        )
        try:
            yield browser
        finally:
            await browser.close()
