"""Content negotiation of ``/openapi/v2`` (JSON or gnostic protobuf) and ``/openapi/v3``
(JSON only)."""

from __future__ import annotations

import pytest

from pilothouse.apiserver import openapi


@pytest.mark.parametrize(
    ("accept", "version", "expected"),
    [
        ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf", 2, openapi.V2_PROTOBUF),
        ("application/com.github.proto-openapi.spec.v2.v1.0+protobuf", 2, openapi.V2_PROTOBUF),
        ("application/json", 2, "application/json"),
        (None, 2, "application/json"),
        ("application/json, */*", 3, "application/json"),
        ("application/com.github.proto-openapi.spec.v3@v1.0+protobuf", 3, None),
        ("text/html", 2, None),
    ],
)
def test_negotiate_openapi(accept: str | None, version: int, expected: str | None) -> None:
    assert openapi.negotiate_openapi(accept, version) == expected
