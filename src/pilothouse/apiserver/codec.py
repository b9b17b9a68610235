"""Decoding request bodies (JSON or YAML) safely, and encoding responses.

Bad input must never crash the server or leave a partial write, so decoding is strict and
bounded before anything else looks at a body: 3 MiB at most (kube-apiserver's limit), a
nesting depth limit (deeply nested documents would otherwise exhaust the recursion limit of
later passes), and YAML restricted to the JSON-compatible safe subset with aliases refused
(a "billion laughs" document would otherwise expand without bound).
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
import yaml

from pilothouse.apiserver import errors, protobuf

MAX_BODY = 3 * 1024 * 1024
MAX_DEPTH = 100
_UNSET: Any = object()


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)


def _depth_ok(value: Any, limit: int = MAX_DEPTH, depth: int = 0) -> bool:
    """No value sits more than ``limit`` containers deep (``value`` is at ``depth``).
    Recursion is bounded by ``limit``; only containers are visited, not every scalar."""
    if isinstance(value, dict):
        children: Any = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return depth <= limit
    if not children:
        return depth <= limit
    if depth + 1 > limit:
        return False
    for child in children:
        if isinstance(child, dict | list) and not _depth_ok(child, limit, depth + 1):
            return False
    return True


def is_yaml(content_type: str) -> bool:
    ct = content_type.split(";", 1)[0].strip().lower()
    return ct in ("application/yaml", "application/apply-patch+yaml", "text/yaml")


def decode(body: bytes, content_type: str) -> Any:
    """Decode a request body; 400 for anything malformed or too deep, 413 if too large."""
    if len(body) > MAX_BODY:
        raise errors.too_large()
    if not body.strip():
        raise errors.bad_request("the request body is empty")
    if protobuf.is_protobuf(content_type):
        # kubectl's typed clients send built-in kinds as Kubernetes protobuf.
        try:
            return protobuf.decode(body)
        except protobuf.ProtobufError as exc:
            raise errors.bad_request(
                f"the body of the request could not be decoded: {exc}"
            ) from None
    yaml_body = is_yaml(content_type)
    value: Any = _UNSET
    if yaml_body and body.lstrip()[:1] == b"{":
        # Most YAML bodies (every server-side apply from a Go or Python client) are JSON,
        # which is YAML too: parse them at orjson's speed, not PyYAML's (a quarter of the
        # server's CPU under an apply-heavy operator). Anything orjson refuses -- YAML flow
        # syntax -- still goes through the YAML parser below.
        with contextlib.suppress(orjson.JSONDecodeError):
            value = orjson.loads(body)
    parsed_as_json = value is not _UNSET or not yaml_body
    try:
        if value is _UNSET:
            value = yaml.load(body, Loader=_NoAliasLoader) if yaml_body else orjson.loads(body)
    except (orjson.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        raise errors.bad_request(f"the body of the request could not be decoded: {exc}") from None
    # JSON nests no deeper than it has brackets (those inside strings only overcount), so a
    # JSON body with few of them needs no walk: that is every ordinary request.
    shallow = parsed_as_json and body.count(b"{") + body.count(b"[") <= MAX_DEPTH
    if not shallow and not _depth_ok(value):
        raise errors.bad_request(
            f"the body of the request is nested more than {MAX_DEPTH} levels deep"
        )
    if parsed_as_json:
        return value
    try:
        # Round-trip through JSON: rejects YAML-only values (timestamps, sets, binary) and
        # normalises keys to strings, so every later stage sees plain JSON data.
        return orjson.loads(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise errors.bad_request(f"the body of the request is not JSON-compatible: {exc}") from None


def decode_object(body: bytes, content_type: str) -> dict[str, Any]:
    value = decode(body, content_type)
    if not isinstance(value, dict):
        raise errors.bad_request(
            f"the body of the request must be an object, not {type(value).__name__}"
        )
    return value


def encode(value: Any) -> bytes:
    return orjson.dumps(value)
