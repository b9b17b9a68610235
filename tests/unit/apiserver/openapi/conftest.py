"""Shared fixtures of the OpenAPI tests: the served types (every built-in kind plus a
CronTab CRD with nullable, preserve-unknown and oneOf fields) and their v2 document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pilothouse.apiserver import catalog, openapi, resources


def _crontab(description: str = "A cron tab.") -> resources.ResourceType:
    spec = {
        "type": "object",
        "required": ["cronSpec", "maybe"],
        "properties": {
            "cronSpec": {"type": "string"},
            "maybe": {"type": "string", "nullable": True},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "choice": {"type": "string", "oneOf": [{"pattern": "a"}, {"pattern": "b"}]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
    root = {"type": "object", "description": description, "properties": {"spec": spec}}
    return resources.ResourceType(
        group="stable.example.com",
        version="v1",
        kind="CronTab",
        plural="crontabs",
        singular="crontab",
        namespaced=True,
        subresources=("scale", "status"),
        crd_version={
            "name": "v1",
            "served": True,
            "storage": True,
            "schema": {"openAPIV3Schema": root},
        },
        storage_version="v1",
    )


@pytest.fixture(scope="module")
def types() -> tuple[resources.ResourceType, ...]:
    return (*catalog.builtin_types(), _crontab())


@pytest.fixture(scope="module")
def v2(types: Any) -> dict[str, Any]:
    return openapi.v2_document(types)


@pytest.fixture
def make_crontab() -> Callable[[str], resources.ResourceType]:
    """A factory of the CronTab CRD type with a given schema description."""
    return _crontab
