"""crd.definition: versions, names, subresources, columns and conversion."""

from __future__ import annotations

from typing import Any

import pytest

from pilothouse import crd
from pilothouse.apiserver.builtin.validation_crd import validate_customresourcedefinitions
from pilothouse.apiserver.structural.crd_schema_check import check_structural


class SpecV1(crd.Model):
    replicas: int = 1
    color: str = "red"
    selector: str | None = None


class StatusV1(crd.Model):
    replicas: int = 0
    selector: str | None = None


COLUMNS = (
    crd.PrinterColumn("Replicas", "integer", ".spec.replicas", description="Desired"),
    crd.PrinterColumn("Color", "string", ".spec.color", priority=1),
    crd.AGE,
)


class GadgetV1(
    crd.CustomResource,
    group="example.com",
    version="v1",
    kind="Gadget",
    short_names=("gd",),
    categories=("all", "toys"),
    printer_columns=COLUMNS,
    scale=crd.Scale(label_selector_path=".status.selector"),
    selectable_fields=(".spec.color",),
):
    spec: SpecV1
    status: StatusV1 | None = None


class GadgetV1beta1(
    crd.CustomResource,
    group="example.com",
    version="v1beta1",
    kind="Gadget",
    storage=False,
    deprecated=True,
    deprecation_warning="example.com/v1beta1 Gadget is deprecated; use v1",
):
    spec: dict[str, Any] = {}


class GadgetV2(crd.CustomResource, group="example.com", version="v2", kind="Gadget", storage=False):
    spec: SpecV1


def _server_errors(definition: dict[str, Any]) -> list[str]:
    obj = {**definition, "status": {"storedVersions": ["v1"]}}
    errs = [c.describe() for c in validate_customresourcedefinitions(obj, None)]
    for i, version in enumerate(definition["spec"]["versions"]):
        path = f"spec.versions[{i}].schema.openAPIV3Schema"
        errs += [c.describe() for c in check_structural(version["schema"]["openAPIV3Schema"], path)]
    return errs


def test_one_version() -> None:
    d = crd.definition(GadgetV1)
    assert d["apiVersion"] == "apiextensions.k8s.io/v1"
    assert d["kind"] == "CustomResourceDefinition"
    assert d["metadata"] == {"name": "gadgets.example.com"}
    spec = d["spec"]
    assert spec["group"] == "example.com" and spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "Gadget",
        "listKind": "GadgetList",
        "plural": "gadgets",
        "singular": "gadget",
        "shortNames": ["gd"],
        "categories": ["all", "toys"],
    }
    assert "conversion" not in spec
    (v1,) = spec["versions"]
    assert (v1["name"], v1["served"], v1["storage"]) == ("v1", True, True)
    assert v1["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    }
    assert v1["additionalPrinterColumns"] == [
        {
            "name": "Replicas",
            "type": "integer",
            "jsonPath": ".spec.replicas",
            "description": "Desired",
        },
        {"name": "Color", "type": "string", "jsonPath": ".spec.color", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    assert v1["selectableFields"] == [{"jsonPath": ".spec.color"}]
    assert v1["schema"]["openAPIV3Schema"] == crd.openapi_schema(GadgetV1)
    assert _server_errors(d) == []


def test_versions_in_priority_order_whatever_the_argument_order() -> None:
    d = crd.definition(GadgetV1beta1, GadgetV2, GadgetV1)
    assert d == crd.definition(GadgetV1, GadgetV1beta1, GadgetV2)
    versions = d["spec"]["versions"]
    assert [v["name"] for v in versions] == ["v2", "v1", "v1beta1"]
    assert [v["storage"] for v in versions] == [False, True, False]
    beta = versions[2]
    assert beta["deprecated"] is True
    assert beta["deprecationWarning"].startswith("example.com/v1beta1 Gadget")
    assert "subresources" not in beta and "additionalPrinterColumns" not in beta
    # Short names and categories declared on one version apply to the CRD.
    assert d["spec"]["names"]["shortNames"] == ["gd"]
    assert _server_errors(d) == []


def test_storage_must_be_exactly_one() -> None:
    with pytest.raises(crd.CRDError, match=r"exactly one version .* not 0 \(none\)"):
        crd.definition(GadgetV2)

    class Other(crd.CustomResource, group="example.com", version="v3", kind="Gadget"):
        spec: SpecV1

    with pytest.raises(crd.CRDError, match=r"not 2 \(GadgetV1, Other\)"):
        crd.definition(GadgetV1, Other)


def test_one_group_and_kind_per_crd() -> None:
    class Thing(crd.CustomResource, group="example.com", version="v2", kind="Thing"):
        pass

    with pytest.raises(
        crd.CRDError, match=r"Thing is Thing\.example\.com, not Gadget\.example\.com"
    ):
        crd.definition(GadgetV1, Thing)
    with pytest.raises(crd.CRDError, match="at least one"):
        crd.definition()


def test_duplicate_versions() -> None:
    class Again(GadgetV1, storage=False):
        pass

    with pytest.raises(crd.CRDError, match="GadgetV1 and Again both declare v1"):
        crd.definition(GadgetV1, Again)
    assert crd.definition(GadgetV1, GadgetV1) == crd.definition(GadgetV1)


def test_versions_must_agree_on_names() -> None:
    class Scoped(crd.CustomResource, group="example.com", version="v2", kind="Gadget",
                 scope="Cluster", storage=False):  # fmt: skip
        pass

    with pytest.raises(crd.CRDError, match="disagree on scope"):
        crd.definition(GadgetV1, Scoped)

    class Short(crd.CustomResource, group="example.com", version="v2", kind="Gadget",
                short_names=("g",), storage=False):  # fmt: skip
        pass

    with pytest.raises(crd.CRDError, match="disagree on short_names"):
        crd.definition(GadgetV1, Short)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"printer_columns": (crd.PrinterColumn("R", "integer", ".spec.replica"),)},
         "printer column 'R' '.spec.replica': the schema declares no field 'replica'"),
        ({"scale": crd.Scale(spec_replicas_path=".spec.color")},
         "spec_replicas_path '.spec.color' must be of type integer, not string"),
        ({"scale": crd.Scale(status_replicas_path=".status.missing")},
         "status_replicas_path '.status.missing'"),
        ({"scale": crd.Scale(label_selector_path=".spec.replicas")},
         "must be of type string"),
        ({"selectable_fields": (".spec.tags",)}, "must be of type string or integer or boolean"),
    ],
)  # fmt: skip
def test_paths_must_name_declared_fields(options: dict[str, Any], message: str) -> None:
    class Spec(crd.Model):
        replicas: int = 1
        color: str = "red"
        tags: list[str] = []

    class Status(crd.Model):
        replicas: int = 0

    class Bad(crd.CustomResource, group="example.com", version="v1", kind="Bad", **options):
        spec: Spec
        status: Status | None = None

    with pytest.raises(crd.CRDError, match=message):
        crd.definition(Bad)


def test_paths_into_free_form_and_metadata_are_trusted() -> None:
    class Free(
        crd.CustomResource,
        group="example.com",
        version="v1",
        kind="Free",
        printer_columns=(
            crd.PrinterColumn("X", "string", ".spec.anything.below"),
            crd.PrinterColumn("Owner", "string", ".metadata.ownerReferences[0].name"),
            crd.PrinterColumn("First", "string", ".spec.list[0]"),
        ),
    ):
        spec: crd.PreserveUnknownFields = {}

    assert len(crd.definition(Free)["spec"]["versions"][0]["additionalPrinterColumns"]) == 3


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: crd.PrinterColumn("", "string", ".a"), "needs a name"),
        (lambda: crd.PrinterColumn("A", "text", ".a"), "type 'text'"),  # type: ignore[arg-type]
        (lambda: crd.PrinterColumn("A", "string", ".a", format="uuid"), "format 'uuid'"),
        (lambda: crd.PrinterColumn("A", "string", "spec.a"), "must start with '.'"),
        (lambda: crd.PrinterColumn("A", "string", ".a[", priority=0), "not a valid JSONPath"),
        (lambda: crd.PrinterColumn("A", "string", ".a", priority=-1), "priority"),
        (lambda: crd.Scale(spec_replicas_path=".status.r"), "must start with '.spec.'"),
        (lambda: crd.Scale(status_replicas_path=".spec.r"), "must start with '.status.'"),
        (lambda: crd.Webhook(), "exactly one of service= and url="),
        (lambda: crd.Webhook(url="http://x"), "https"),
        (lambda: crd.Webhook(url="https://x", review_versions=("v2",)), "v1 or v1beta1"),
    ],
)
def test_option_values_are_validated_on_construction(make: Any, message: str) -> None:
    with pytest.raises(crd.CRDError, match=message):
        make()


def test_duplicate_column_names_are_rejected() -> None:
    with pytest.raises(crd.CRDError, match="unique"):

        class Dup(crd.CustomResource, group="example.com", version="v1", kind="Dup",
                  printer_columns=(crd.AGE, crd.AGE)):  # fmt: skip
            pass


def test_webhook_conversion() -> None:
    service = crd.ServiceReference("conv", "system", path="/convert", port=8443)
    d = crd.definition(
        GadgetV1, GadgetV2, conversion=crd.Webhook(service=service, ca_bundle=b"PEM")
    )
    assert d["spec"]["conversion"] == {
        "strategy": "Webhook",
        "webhook": {
            "clientConfig": {
                "service": {
                    "name": "conv",
                    "namespace": "system",
                    "path": "/convert",
                    "port": 8443,
                },
                "caBundle": "UEVN",
            },
            "conversionReviewVersions": ["v1"],
        },
    }
    assert _server_errors(d) == []
    by_url = crd.Webhook(url="https://conv.example.com/convert").to_dict()
    assert by_url["webhook"]["clientConfig"] == {"url": "https://conv.example.com/convert"}


def test_no_status_field_no_status_subresource() -> None:
    class Plain(crd.CustomResource, group="example.com", version="v1", kind="Plain"):
        spec: SpecV1

    assert "subresources" not in crd.definition(Plain)["spec"]["versions"][0]
