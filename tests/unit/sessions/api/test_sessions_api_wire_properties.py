"""Property tests of the sessions API's wire formats.

* Every body ``POST /api/v1/sessions`` accepts turns into a Session spec the API server
  accepts too, unchanged: nothing pruned, no validation cause (the oracle is the embedded
  server's own pruning and validation against the CRD schema generated from the model).
  This is the promise of ``schemas``: the API accepts exactly what the API server would,
  so a 202 never turns into a later 422.
* Request bodies round-trip through their JSON form, and unknown fields are refused.
* ``SessionOut`` built from any Session object survives its own JSON round trip, so
  clients (the dashboard, the WebSocket) read back what the server meant.
"""

from __future__ import annotations

import copy
import datetime
import functools
from typing import Any

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse import crd
from pilothouse.apiserver.schemas import SchemaNode, crd_schema
from pilothouse.apiserver.structural.pruning import prune
from pilothouse.apiserver.structural.validate import validate
from pilothouse.operators.sessions import session as session_mod
from pilothouse.operators.sessions.api import schemas

names = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?\Z")
quantities = st.one_of(
    st.integers(0, 64),
    st.builds(
        lambda n, unit: f"{n}{unit}",
        st.integers(1, 4096),
        st.sampled_from(["m", "Mi", "Gi", "", "k"]),
    ),
)
resource_maps = st.dictionaries(st.sampled_from(["cpu", "memory", "nvidia.com/gpu"]), quantities)
durations = st.builds(
    lambda parts: "".join(f"{n}{u}" for n, u in parts) or "0",
    st.lists(st.tuples(st.integers(0, 90), st.sampled_from(["h", "m", "s", "ms"])), max_size=3),
)
env = st.lists(
    st.fixed_dictionaries(
        {"name": st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,10}\Z")},
        optional={"value": st.text(max_size=20)},
    ),
    max_size=3,
)
home = st.fixed_dictionaries(
    {},
    optional={
        "enabled": st.booleans(),
        "size": quantities,
        "storageClass": names,
        "keepOnTerminate": st.booleans(),
    },
)
create_bodies = st.fixed_dictionaries(
    {},
    optional={
        "name": names,
        "template": names,
        "image": st.sampled_from(["busybox", "ghcr.io/x/ide:1.2", "python:3.11-slim"]),
        "resources": st.fixed_dictionaries(
            {}, optional={"requests": resource_maps, "limits": resource_maps}
        ),
        "state": st.sampled_from(["running", "hibernated"]),
        "idleTimeout": durations,
        "maxSessionDuration": durations,
        "home": home,
        "env": env,
    },
)
users = st.from_regex(r"\A[a-z][a-z0-9.@-]{0,20}\Z")


@functools.cache
def spec_schema() -> SchemaNode:
    definition = crd.definition(session_mod.Session)
    root = definition["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return crd_schema(root["properties"]["spec"])


@settings(max_examples=150, deadline=None)
@given(body=create_bodies, user=users)
def test_what_the_api_accepts_the_api_server_accepts_unchanged(
    body: dict[str, Any], user: str
) -> None:
    spec = schemas.SessionCreate.model_validate(body).spec(user)
    kept = copy.deepcopy(spec)
    node = spec_schema()
    assert prune(kept, node, is_root=False) == []
    assert kept == spec
    assert [c.describe() for c in validate(spec, node, "spec")] == []
    # And the controller reads the spec back as the user asked.
    parsed = session_mod.SessionSpec.model_validate(spec)
    assert parsed.user == user
    assert parsed.state == body.get("state", "running")
    assert parsed.image == body.get("image")


@settings(max_examples=100, deadline=None)
@given(body=create_bodies)
def test_create_bodies_round_trip_through_json(body: dict[str, Any]) -> None:
    model = schemas.SessionCreate.model_validate(body)
    wire = model.model_dump_json(by_alias=True, exclude_none=True)
    assert schemas.SessionCreate.model_validate_json(wire) == model


@settings(max_examples=50, deadline=None)
@given(body=create_bodies, extra=st.sampled_from(["idleTimout", "user", "namespace", "x"]))
def test_unknown_fields_are_refused(body: dict[str, Any], extra: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=extra):
        schemas.SessionCreate.model_validate({**body, extra: "1"})


@pytest.mark.parametrize("name", ["Upper", "-lead", "trail-", "a" * 56, "dot.ted", ""])
def test_names_that_cannot_name_a_service_are_refused(name: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="name"):
        schemas.SessionCreate.model_validate({"name": name, "image": "busybox"})


times = st.datetimes(timezones=st.just(datetime.UTC)).map(
    lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
)
session_objects = st.builds(
    lambda name, user, spec, status, created: {
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": created},
        "spec": {"user": user, **spec},
        "status": status,
    },
    names,
    users,
    st.fixed_dictionaries(
        {},
        optional={
            "template": names,
            "image": st.text(min_size=1, max_size=30),
            "state": st.sampled_from(session_mod.STATES),
        },
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "phase": st.sampled_from(session_mod.PHASES),
            "url": st.text(max_size=40),
            "stoppedBy": st.sampled_from(["user", "idle", "max-duration"]),
            "message": st.text(max_size=80),
            "lastActivity": times,
            "lastReconcileTime": times,
            "nodeName": names,
        },
    ),
    times,
)


@settings(max_examples=100, deadline=None)
@given(obj=session_objects)
def test_session_out_round_trips_through_json(obj: dict[str, Any]) -> None:
    out = schemas.session_out(obj)
    assert out.name == obj["metadata"]["name"]
    assert out.phase == obj["status"].get("phase")
    again = schemas.SessionOut.model_validate_json(out.model_dump_json(by_alias=True))
    assert again == out
