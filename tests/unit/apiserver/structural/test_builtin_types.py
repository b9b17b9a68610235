"""The decode type checks of built-in kinds, worded as Go's JSON decoder words them."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.apiserver import schemas
from pilothouse.apiserver.errors import Cause
from pilothouse.apiserver.structural import builtin_types
from pilothouse.apiserver.structural import validate as v

DEPLOYMENT = schemas.builtin_schema("apps/v1", "Deployment")


def decode(obj: dict[str, Any]) -> list[tuple[str, str]]:
    assert DEPLOYMENT is not None
    return [(c.field, c.message) for c in builtin_types.validate_builtin_types(obj, DEPLOYMENT)]


def test_builtin_decode_errors_match_go() -> None:
    assert decode({"spec": {"replicas": "3"}}) == [
        (
            "spec.replicas",
            "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of "
            "type int32",
        )
    ]
    pod = {"containers": [{"name": "c", "image": 5, "ports": [{"containerPort": 1.5}]}]}
    assert decode({"spec": {"template": {"spec": pod}}}) == [
        (
            "spec.template.spec.containers[0].image",
            "json: cannot unmarshal number into Go struct field "
            "Container.spec.template.spec.containers.image of type string",
        ),
        (
            "spec.template.spec.containers[0].ports[0].containerPort",
            "json: cannot unmarshal number 1.5 into Go struct field "
            "ContainerPort.spec.template.spec.containers.ports.containerPort of type int32",
        ),
    ]
    assert decode({"spec": {"template": {"spec": {"containers": {}}}}}) == [
        (
            "spec.template.spec.containers",
            "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec."
            "containers of type []v1.Container",
        )
    ]


def test_builtin_custom_unmarshalers() -> None:
    bad = {
        "metadata": {"labels": {"a": 1}, "creationTimestamp": "yesterday"},
        "spec": {"strategy": {"rollingUpdate": {"maxSurge": True, "maxUnavailable": "25%"}}},
    }
    assert [m for _, m in decode(bad)] == [
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type "
        "string",
        'parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as '
        '"2006"',
        "json: cannot unmarshal bool into Go value of type int32",
    ]
    limits = {"containers": [{"name": "c", "resources": {"limits": {"cpu": "1.5Gi", "mem": "x"}}}]}
    assert [m for _, m in decode({"spec": {"template": {"spec": limits}}})] == [
        "quantities must match the regular expression "
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    ]


def test_builtin_valid_object_and_non_object() -> None:
    ok = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "spec": {
                    "containers": [
                        {"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}
                    ]
                }
            },
        },
    }
    assert decode(ok) == []
    assert DEPLOYMENT is not None
    assert builtin_types.validate_builtin_types([], DEPLOYMENT)[0].message == (
        "json: cannot unmarshal array into Go value of type v1.Deployment"
    )


def test_validate_module_keeps_the_entry_point() -> None:
    assert v.validate_builtin_types is builtin_types.validate_builtin_types


# -- fuzzing -------------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "metadata", "kind", "apiVersion", "x-y"])
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(value=JSON)
def test_arbitrary_builtin_objects_never_raise(value: Any) -> None:
    assert DEPLOYMENT is not None
    for obj in (value, {"spec": value}, {"spec": {"template": {"spec": value}}}):
        assert all(
            isinstance(c, Cause) for c in builtin_types.validate_builtin_types(obj, DEPLOYMENT)
        )
