"""Serving the OpenAPI documents: serialized bodies and ETags, the v3 index with
hash-pinned URLs, and memoisation that follows CRD schema changes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson

from pilothouse.apiserver import catalog, openapi, resources

CRONTAB = "com.example.stable.v1.CronTab"


def test_v2_serialized_json_and_etag(types: Any, v2: dict[str, Any]) -> None:
    body, etag = openapi.v2_serialized(types)
    assert orjson.loads(body) == v2
    assert etag == hashlib.sha512(body).hexdigest().upper()


def test_v3_index(types: Any) -> None:
    index = openapi.v3_index(types)
    paths = index["paths"]
    for key in (
        "api/v1",
        "apis/apps/v1",
        "apis/stable.example.com/v1",
        "apis/apps",
        "api",
        "apis",
        "version",
    ):
        assert key in paths
    url = paths["apis/apps/v1"]["serverRelativeURL"]
    prefix, _, digest = url.partition("?hash=")
    assert prefix == "/openapi/v3/apis/apps/v1"
    serialized = openapi.v3_serialized(types, "apis/apps/v1")
    assert serialized is not None
    body, etag = serialized
    assert digest == etag == hashlib.sha512(body).hexdigest().upper()
    assert orjson.loads(body) == openapi.v3_document(types, "/apis/apps/v1/")
    assert orjson.loads(orjson.dumps(index)) == index


def test_documents_are_memoised_and_follow_crd_schema_changes(
    make_crontab: Callable[[str], resources.ResourceType],
) -> None:
    before = (*catalog.builtin_types(), make_crontab("first"))
    after = (*catalog.builtin_types(), make_crontab("second"))
    assert before == after  # ResourceType equality ignores the CRD schema...
    doc = openapi.v2_document(before)
    assert openapi.v2_document(before) is doc
    changed = openapi.v2_document(after)  # ...the cache does not
    assert changed["definitions"][CRONTAB]["description"] == "second"
    assert openapi.v2_document(before)["definitions"][CRONTAB]["description"] == "first"
    openapi.invalidate()
    assert openapi.v2_document(before) is not doc
