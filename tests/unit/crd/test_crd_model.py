"""CustomResource: class keywords, apiVersion/kind, the from_object/to_object round trip."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from pilothouse import crd
from pilothouse.api.kinds import Kind


class Port(crd.Model):
    name: str
    container_port: int = 80


class WidgetSpec(crd.Model):
    replicas: int = 1
    max_surge: crd.IntOrString = "25%"
    ports: list[Port] = []
    labels: dict[str, str] = {}
    note: str | None = None
    template: Port = pydantic.Field(default_factory=lambda: Port(name="default"))


class WidgetStatus(crd.Model):
    ready_replicas: int = 0


class Widget(
    crd.CustomResource,
    group="example.com",
    version="v1",
    kind="Widget",
    short_names=("wd",),
):
    """A widget."""

    spec: WidgetSpec
    status: WidgetStatus | None = None


class Cluster(
    crd.CustomResource, group="example.com", version="v1", kind="Policy", scope="Cluster"
):
    spec: dict[str, str] = {}


def test_declaration_defaults() -> None:
    o = Widget.crd_options()
    assert (o.group, o.version, o.kind, o.plural, o.singular) == (
        "example.com", "v1", "Widget", "widgets", "widget",
    )  # fmt: skip
    assert o.scope == "Namespaced" and o.served and o.storage and not o.deprecated
    assert o.short_names == ("wd",) and o.api_version == "example.com/v1"
    assert o.crd_name == "widgets.example.com" and o.list_kind == "WidgetList"
    assert Cluster.crd_options().plural == "policies"


def test_kind_info_is_what_clients_address() -> None:
    assert Widget.kind_info() == Kind("example.com", "v1", "Widget", "widgets", True)
    assert Cluster.kind_info() == Kind("example.com", "v1", "Policy", "policies", False)
    assert Widget.kind_info().path("ns", "w") == "/apis/example.com/v1/namespaces/ns/widgets/w"


def test_api_version_and_kind_are_filled_in() -> None:
    w = Widget(spec=WidgetSpec())
    assert (w.api_version, w.kind) == ("example.com/v1", "Widget")
    assert w.to_object()["apiVersion"] == "example.com/v1"


def test_another_resources_object_is_rejected() -> None:
    obj = {"apiVersion": "example.com/v2", "kind": "Widget", "spec": {}}
    with pytest.raises(pydantic.ValidationError, match=r"apiVersion must be 'example\.com/v1'"):
        Widget.from_object(obj)
    with pytest.raises(pydantic.ValidationError, match="kind must be 'Widget'"):
        Widget.from_object({"apiVersion": "example.com/v1", "kind": "Gadget", "spec": {}})


def test_snake_case_in_python_camel_case_on_the_wire() -> None:
    w = Widget.from_object(
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "resourceVersion": "5"},
            "spec": {"maxSurge": 2, "ports": [{"name": "http", "containerPort": 8080}]},
        }
    )
    assert w.metadata.resource_version == "5"
    assert w.spec.max_surge == 2 and w.spec.ports[0].container_port == 8080
    by_name = Widget(spec=WidgetSpec(max_surge=3, ports=[Port(name="a", container_port=1)]))
    assert by_name.to_object()["spec"] == {
        "maxSurge": 3,
        "ports": [{"name": "a", "containerPort": 1}],
    }


SERVER_OBJECT: dict[str, Any] = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {
        "name": "w",
        "namespace": "default",
        "uid": "3b2c8e64-0d4f-4a4e-9f0e-000000000001",
        "resourceVersion": "42",
        "generation": 3,
        "creationTimestamp": "2024-05-01T12:00:00Z",
        "labels": {"app": "w"},
        "annotations": {"a": "b"},
        "finalizers": ["example.com/cleanup"],
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "d",
                "uid": "3b2c8e64-0d4f-4a4e-9f0e-000000000002",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
        "managedFields": [
            {
                "manager": "kubectl",
                "operation": "Apply",
                "apiVersion": "example.com/v1",
                "time": "2024-05-01T12:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:replicas": {}}},
            }
        ],
        "someFutureField": {"kept": True},
    },
    "spec": {
        "replicas": 2,
        "maxSurge": "50%",
        "ports": [{"name": "http", "containerPort": 80}],
        "labels": {},
        "template": {"name": "t", "containerPort": 81},
    },
    "status": {"readyReplicas": 1},
}


def test_server_objects_round_trip_unchanged() -> None:
    w = Widget.from_object(SERVER_OBJECT)
    assert w.to_object() == SERVER_OBJECT
    assert w.metadata.owner_references and w.metadata.owner_references[0].controller is True
    assert w.metadata.creation_timestamp is not None
    assert w.metadata.creation_timestamp.year == 2024


def test_to_object_sends_only_what_was_set() -> None:
    w = Widget(metadata=crd.ObjectMeta(name="w"), spec=WidgetSpec(replicas=1))
    # replicas equals its default but was set explicitly: the user means to own it.
    assert w.to_object() == {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"replicas": 1},
    }


def test_to_object_includes_defaults_changed_in_place() -> None:
    w = Widget(spec=WidgetSpec())
    w.metadata.name = "w"  # metadata itself was never assigned
    w.spec.labels["a"] = "b"
    w.spec.ports.append(Port(name="http"))
    w.spec.template.container_port = 9000
    assert w.to_object() == {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {
            "labels": {"a": "b"},
            "ports": [{"name": "http"}],
            "template": {"name": "default", "containerPort": 9000},
        },
    }


def test_to_object_drops_none() -> None:
    w = Widget(spec=WidgetSpec(note=None), status=None)
    assert w.to_object() == {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {}}


def test_none_is_sent_as_null_only_where_it_is_not_the_default() -> None:
    class Spec(crd.Model):
        required: int | None
        five: int | None = 5
        absent: int | None = None
        values: dict[str, int | None] = {}

    class Nulls(crd.CustomResource, group="a.b", version="v1", kind="Nulls"):
        spec: Spec

    n = Nulls(spec=Spec(required=None, five=None, absent=None, values={"k": None}))
    sent = n.to_object()
    assert sent["spec"] == {"required": None, "five": None, "values": {"k": None}}
    assert Nulls.from_object(sent) == n


def test_metadata_keeps_unknown_fields() -> None:
    meta = crd.ObjectMeta.model_validate({"name": "x", "newField": 1})
    assert meta.model_dump(by_alias=True, exclude_none=True) == {"name": "x", "newField": 1}


def test_subclass_inherits_the_declaration() -> None:
    class WidgetV2(Widget, version="v2", storage=False):
        pass

    o = WidgetV2.crd_options()
    assert (o.version, o.kind, o.plural, o.short_names, o.storage) == (
        "v2", "Widget", "widgets", ("wd",), False,
    )  # fmt: skip
    assert WidgetV2(spec=WidgetSpec()).api_version == "example.com/v2"

    class Gadget(Widget, kind="Gadget"):
        pass

    assert Gadget.crd_options().plural == "gadgets"  # follows the new kind


def test_abstract_base_cannot_be_instantiated() -> None:
    class Base(crd.CustomResource):
        spec: dict[str, str] = {}

    with pytest.raises(TypeError, match="declares no resource"):
        Base()
    with pytest.raises(TypeError, match="declares no resource"):
        Base.kind_info()

    class Concrete(Base, group="example.com", version="v1", kind="Concrete"):
        pass

    assert Concrete().to_object() == {"apiVersion": "example.com/v1", "kind": "Concrete"}


def test_incomplete_or_invalid_declarations_fail_at_class_creation() -> None:
    with pytest.raises(crd.CRDError, match="must declare version=, kind="):

        class A(crd.CustomResource, group="example.com"):
            pass

    with pytest.raises(crd.CRDError, match="at least one dot"):

        class B(crd.CustomResource, group="example", version="v1", kind="B"):
            pass

    with pytest.raises(crd.CRDError, match="scope"):

        class C(crd.CustomResource, group="a.b", version="v1", kind="C", scope="Global"):
            pass

    with pytest.raises(crd.CRDError, match="deprecated=True"):

        class D(crd.CustomResource, group="a.b", version="v1", kind="D", deprecation_warning="x"):
            pass


def test_a_single_short_name_string_is_not_split() -> None:
    class E(crd.CustomResource, group="a.b", version="v1", kind="E", short_names="ee"):
        pass

    assert E.crd_options().short_names == ("ee",)


def test_pydantic_config_keywords_still_work() -> None:
    class F(crd.CustomResource, group="a.b", version="v1", kind="F", extra="forbid"):
        spec: dict[str, str] = {}

    with pytest.raises(pydantic.ValidationError, match="Extra inputs are not permitted"):
        F.from_object({"spec": {}, "surprise": 1})
