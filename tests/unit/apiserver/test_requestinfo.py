"""URL parsing into RequestInfo: table cases and a fuzz that it never raises."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.apiserver import requestinfo


@pytest.mark.parametrize(
    ("method", "path", "watch", "expect"),
    [
        ("GET", "/api/v1/pods", False, ("", "v1", "pods", "", "", "", "list")),
        ("GET", "/api/v1/pods", True, ("", "v1", "pods", "", "", "", "watch")),
        ("GET", "/api/v1/namespaces/ns/pods/p", False, ("", "v1", "pods", "ns", "p", "", "get")),
        (
            "PUT",
            "/api/v1/namespaces/ns/pods/p/status",
            False,
            ("", "v1", "pods", "ns", "p", "status", "update"),
        ),
        (
            "POST",
            "/api/v1/namespaces/ns/pods/p/eviction",
            False,
            ("", "v1", "pods", "ns", "p", "eviction", "create"),
        ),
        ("GET", "/api/v1/namespaces/ns", False, ("", "v1", "namespaces", "", "ns", "", "get")),
        (
            "PUT",
            "/api/v1/namespaces/ns/finalize",
            False,
            ("", "v1", "namespaces", "", "ns", "finalize", "update"),
        ),
        (
            "DELETE",
            "/apis/apps/v1/namespaces/ns/deployments",
            False,
            ("apps", "v1", "deployments", "ns", "", "", "deletecollection"),
        ),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/ns/deployments/d/scale",
            False,
            ("apps", "v1", "deployments", "ns", "d", "scale", "patch"),
        ),
        (
            "GET",
            "/apis/example.com/v1/widgets/w",
            False,
            ("example.com", "v1", "widgets", "", "w", "", "get"),
        ),
        (
            "GET",
            "/api/v1/watch/namespaces/ns/pods",
            False,
            ("", "v1", "pods", "ns", "", "", "watch"),
        ),
    ],
)
def test_parse(method: str, path: str, watch: bool, expect: tuple[str, ...]) -> None:
    info = requestinfo.parse(path, method, watch_param=watch)
    assert info is not None
    got = (
        info.group,
        info.version,
        info.resource,
        info.namespace,
        info.name,
        info.subresource,
        info.verb,
    )
    assert got == expect


@pytest.mark.parametrize(
    "path", ["/", "/api", "/apis/apps", "/healthz", "/api/v1/namespaces/a/pods/b/c/d"]
)
def test_not_resource_urls(path: str) -> None:
    assert requestinfo.parse(path, "GET", watch_param=False) is None


@given(
    st.text(max_size=200),
    st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "X"]),
    st.booleans(),
)
def test_never_raises(path: str, method: str, watch: bool) -> None:
    info = requestinfo.parse(path, method, watch_param=watch)
    if info is not None:
        assert info.resource and info.verb
