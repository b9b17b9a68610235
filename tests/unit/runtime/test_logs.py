"""Structured logs carry the reconcile context without the reconciler passing it along."""

from __future__ import annotations

import io
import json
import logging

import pytest

from pilothouse.runtime import logs


@pytest.fixture
def stream() -> io.StringIO:
    return io.StringIO()


def _logger(stream: io.StringIO, formatter: logging.Formatter) -> logging.Logger:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(logs.ContextFilter())
    logger = logging.getLogger(f"test.logs.{id(stream)}.{type(formatter).__name__}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_json_lines_carry_reconcile_context_and_extras(stream: io.StringIO) -> None:
    logger = _logger(stream, logs.JSONFormatter())
    token = logs.context.set(
        {"controller": "app", "kind": "App", "namespace": "ns", "name": "a", "reconcileID": "r1"}
    )
    try:
        logger.info("applied %s", "deployment", extra={"generation": 3})
    finally:
        logs.context.reset(token)
    logger.warning("outside")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["msg"] == "applied deployment" and first["level"] == "info"
    assert (first["controller"], first["kind"], first["namespace"], first["name"]) == (
        "app",
        "App",
        "ns",
        "a",
    )
    assert first["reconcileID"] == "r1" and first["generation"] == 3
    assert "controller" not in second and second["level"] == "warning"


def test_json_includes_the_exception(stream: io.StringIO) -> None:
    logger = _logger(stream, logs.JSONFormatter())
    try:
        raise ValueError("bad")
    except ValueError:
        logger.exception("failed")
    line = json.loads(stream.getvalue())
    assert "ValueError: bad" in line["error"]


def test_console_format_appends_context_as_key_values(stream: io.StringIO) -> None:
    logger = _logger(stream, logs.ConsoleFormatter())
    token = logs.context.set({"controller": "app", "name": "a"})
    try:
        logger.info("hello")
    finally:
        logs.context.reset(token)
    out = stream.getvalue()
    assert "hello" in out and "controller=app" in out and "name=a" in out
