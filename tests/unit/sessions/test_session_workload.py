"""Resolving a session against its template, and the objects built for it; plus the
resource models' schema (printer columns, status subresource, duration validation)."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from pilothouse import crd
from pilothouse.operators.sessions import common, operator_setup, session, template, workload

SESSION_OBJ: dict[str, Any] = {
    "apiVersion": "sessions.pilothouse.dev/v1alpha1",
    "kind": "Session",
    "metadata": {"name": "s", "namespace": "team", "uid": "u-1"},
    "spec": {"user": "bob"},
}


def test_session_fields_win_over_the_template() -> None:
    tmpl = template.SessionTemplateSpec.model_validate(
        {
            "image": "t:1",
            "resources": {"requests": {"cpu": 1}},
            "ports": [{"name": "web", "containerPort": 3000}],
            "env": [{"name": "A", "value": "t"}, {"name": "B", "value": "t"}],
        }
    )
    spec = session.SessionSpec.model_validate(
        {"user": "bob", "image": "s:2", "env": [{"name": "B", "value": "s"}]}
    )
    r = workload.resolve(spec, tmpl)
    assert r.image == "s:2" and r.resources == {"requests": {"cpu": 1}}
    assert [(e.name, e.value) for e in r.env] == [("A", "t"), ("B", "s")]
    assert r.ports[0].container_port == 3000
    assert workload.url("s", "team", r) == "http://session-s.team.svc.cluster.local:3000"


def test_no_image_anywhere_is_a_resolve_error() -> None:
    with pytest.raises(workload.ResolveError, match="neither an image nor a template") as info:
        workload.resolve(session.SessionSpec(user="bob"), None)
    assert info.value.reason == "NoImage"


def test_deployment_owned_recreated_and_mounting_the_home() -> None:
    r = workload.resolve(session.SessionSpec(user="bob", image="i:1"), None)
    home = session.HomeSpec(size="5Gi", storage_class="fast")
    dep = workload.deployment(SESSION_OBJ, r, replicas=0, home=home)
    assert dep["metadata"]["name"] == "session-s" and dep["spec"]["replicas"] == 0
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    (ref,) = dep["metadata"]["ownerReferences"]
    assert ref["uid"] == "u-1" and ref["controller"] is True
    pod = dep["spec"]["template"]
    assert pod["metadata"]["labels"] == {common.LABEL_SESSION: "s", common.LABEL_USER: "bob"}
    assert pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "session-s-home"
    claim = workload.claim(SESSION_OBJ, home)
    assert claim["spec"]["storageClassName"] == "fast"
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    svc = workload.service(SESSION_OBJ, r)
    assert svc["spec"]["selector"] == {common.LABEL_SESSION: "s"}
    assert svc["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": 8080}]


def test_without_home_there_is_no_volume() -> None:
    r = workload.resolve(session.SessionSpec(user="bob", image="i:1"), None)
    dep = workload.deployment(SESSION_OBJ, r, replicas=1, home=None)
    assert "volumes" not in dep["spec"]["template"]["spec"]


def test_session_crd_columns_subresource_and_duration_pattern() -> None:
    definition = crd.definition(session.Session)
    (version,) = definition["spec"]["versions"]
    columns = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert columns == ["User", "State", "Phase", "Last Activity", "Age"]
    assert version["subresources"] == {"status": {}}
    assert definition["spec"]["names"]["shortNames"] == ["sess"]
    spec_schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert spec_schema["idleTimeout"]["default"] == "30m"
    assert "pattern" in spec_schema["idleTimeout"]
    assert [m.kind_info().kind for m in operator_setup.CRDS] == [
        "Session",
        "SessionTemplate",
        "SessionQuota",
    ]


def test_bad_durations_are_rejected_by_the_model() -> None:
    with pytest.raises(pydantic.ValidationError):
        session.SessionSpec.model_validate({"user": "u", "idleTimeout": "5 minutes"})
    ok = session.SessionSpec.model_validate({"user": "u", "maxSessionDuration": "8h"})
    assert ok.idle_timeout == "30m" and ok.max_session_duration == "8h"
