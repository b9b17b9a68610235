"""``kubectl create token`` mints a ServiceAccount token the server accepts."""

from __future__ import annotations

import json

from pilothouse.testing.apiserver import ServerThread
from pilothouse.testing.http import RawClient


def test_create_token_and_use_it(cluster: ServerThread) -> None:
    cluster.kubectl("create", "serviceaccount", "robot")
    token = cluster.kubectl("create", "token", "robot", "--duration=1h").stdout.strip()
    raw = RawClient(cluster, token=token)
    assert raw.request("GET", "/api/v1/namespaces/default/configmaps").status == 200
    who = raw.request(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    ).json()
    assert who["status"]["userInfo"]["username"] == "system:serviceaccount:default:robot"
    review = json.loads(
        cluster.kubectl(
            "create",
            "-o",
            "json",
            "-f",
            "-",
            input=json.dumps(
                {
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "TokenReview",
                    "spec": {"token": token},
                }
            ),
        ).stdout
    )
    assert review["status"]["authenticated"] is True
    missing = cluster.kubectl("create", "token", "nobody", check=False)
    assert missing.returncode != 0 and "not found" in missing.stderr
    assert cluster.kubectl("auth", "can-i", "delete", "pods").stdout.strip() == "yes"
