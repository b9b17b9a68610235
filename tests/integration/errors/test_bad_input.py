"""Bad input gets a real Status with the right code and never a partial write."""

from __future__ import annotations

from pilothouse.testing import apiserver
from pilothouse.testing.http import RawClient

CMS = "/api/v1/namespaces/default/configmaps"


def _count(raw: RawClient) -> int:
    return len(raw.request("GET", CMS).json()["items"])


def test_status_codes(cluster: apiserver.ServerThread) -> None:
    raw = RawClient(cluster)
    assert RawClient(cluster, token="").request("GET", CMS).status == 401
    assert RawClient(cluster, token="wrong").request("GET", CMS).status == 401
    cases = [
        ("POST", CMS, b"{not json", 400),
        ("POST", CMS, b"[1,2,3]", 400),
        ("POST", CMS, {"apiVersion": "v2", "kind": "ConfigMap", "metadata": {"name": "x"}}, 400),
        ("POST", CMS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}, 400),
        ("POST", CMS, {"metadata": {"name": "Bad_Name"}}, 422),
        ("POST", CMS, {"metadata": {"name": "x", "namespace": "other"}}, 400),
        ("POST", CMS, {"metadata": {"name": "x", "labels": {"bad key!": "v"}}}, 422),
        ("PUT", f"{CMS}/x", {"metadata": {"name": "y"}}, 400),
        ("GET", f"{CMS}/missing", None, 404),
        ("GET", "/api/v1/namespaces/nope/configmaps/x", None, 404),
        ("POST", "/api/v1/namespaces/nope/configmaps", {"metadata": {"name": "x"}}, 404),
        ("GET", "/apis/nope.example.com/v1/things", None, 404),
        ("POST", "/api/v1/componentstatuses", {"metadata": {"name": "x"}}, 405),
        ("GET", f"{CMS}?labelSelector=a%20in%20(", None, 400),
        ("GET", f"{CMS}?fieldSelector=spec.nope%3Dx", None, 400),
        ("POST", CMS, b"a: &a [*a, *a]\n", 400),
    ]
    for method, path, body, code in cases:
        headers = (
            {"Content-Type": "application/yaml"}
            if isinstance(body, bytes) and body.startswith(b"a:")
            else None
        )
        resp = raw.request(method, path, body, headers=headers)
        assert resp.status == code, (method, path, body, resp.status, resp.body)
        status = resp.json()
        assert status["kind"] == "Status" and status["code"] == code
    assert _count(raw) == 0


def test_oversized_and_deeply_nested_bodies(cluster: apiserver.ServerThread) -> None:
    raw = RawClient(cluster)
    big = {"metadata": {"name": "big"}, "data": {"k": "x" * (3 * 1024 * 1024)}}
    assert raw.request("POST", CMS, big).status == 413
    deep = b'{"metadata": {"name": "deep"}, "data": ' + b"[" * 500 + b'"leaf"' + b"]" * 500 + b"}"
    resp = raw.request("POST", CMS, deep)
    assert resp.status == 400
    patch = raw.request(
        "PATCH", f"{CMS}/missing", {"data": {}}, headers={"Content-Type": "application/bogus"}
    )
    assert patch.status == 415
    assert _count(raw) == 0
    assert raw.request("GET", "/healthz").status == 200
