"""Hub-and-spoke converters and ConversionReview handling."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pilothouse.runtime.webhook.conversion import (
    ConversionError,
    ConversionRegistry,
    ConversionWebhook,
)
from pilothouse.runtime.webhook.review import MalformedReview

Obj = dict[str, Any]


def v1_to_v2(obj: Obj) -> Obj:
    spec = obj.pop("spec")
    obj["spec"] = {"size": {"value": spec["size"], "unit": "Gi"}}
    return obj


def v2_to_v1(obj: Obj) -> Obj:
    obj["spec"] = {"size": obj["spec"]["size"]["value"]}
    return obj


def v3_to_v2(obj: Obj) -> Obj:
    obj["spec"] = {"size": {"value": obj["spec"]["sizeGi"], "unit": "Gi"}}
    return obj


def v2_to_v3(obj: Obj) -> Obj:
    obj["spec"] = {"sizeGi": obj["spec"]["size"]["value"]}
    # Lossless round trips: what v3 cannot express goes into an annotation.
    obj["metadata"].setdefault("annotations", {})["example.com/unit"] = obj["spec"].get(
        "unit", "Gi"
    )
    return obj


def registry() -> ConversionRegistry:
    reg = ConversionRegistry()
    reg.kind("example.com", "Widget", hub="v2").spoke("v1", to_hub=v1_to_v2, from_hub=v2_to_v1)
    reg.converters("example.com", "Widget").spoke("v3", to_hub=v3_to_v2, from_hub=v2_to_v3)
    return reg


def widget(version: str, spec: Obj) -> Obj:
    return {
        "apiVersion": f"example.com/{version}",
        "kind": "Widget",
        "metadata": {
            "name": "w",
            "namespace": "ns",
            "uid": "u-1",
            "resourceVersion": "7",
            "labels": {"a": "b"},
        },
        "spec": spec,
    }


V1 = widget("v1", {"size": 3})
V2 = widget("v2", {"size": {"value": 3, "unit": "Gi"}})


def test_webhook_convert_spoke_to_hub_and_back() -> None:
    reg = registry()
    original = copy.deepcopy(V1)
    assert reg.convert(V1, "example.com/v2") == V2
    assert original == V1  # the input is never modified
    assert reg.convert(V2, "example.com/v1") == V1
    assert reg.convert(V1, "example.com/v1") is V1


def test_webhook_convert_spoke_to_spoke_through_hub_keeps_metadata() -> None:
    reg = registry()
    v3 = reg.convert(V1, "example.com/v3")
    assert v3["apiVersion"] == "example.com/v3" and v3["spec"] == {"sizeGi": 3}
    assert v3["metadata"] == {
        **V1["metadata"],
        "annotations": {"example.com/unit": "Gi"},
    }
    assert reg.convert(v3, "example.com/v1")["spec"] == {"size": 3}


def test_webhook_convert_metadata_is_restored() -> None:
    reg = ConversionRegistry()

    def sloppy(obj: Obj) -> Obj:
        return {"spec": obj["spec"], "metadata": {"name": "other", "labels": {}}}

    reg.kind("example.com", "Widget", hub="v2").spoke("v1", to_hub=sloppy, from_hub=sloppy)
    out = reg.convert(V1, "example.com/v2")
    assert out["kind"] == "Widget" and out["apiVersion"] == "example.com/v2"
    assert out["metadata"] == {k: v for k, v in V1["metadata"].items() if k != "labels"}


def test_webhook_convert_errors() -> None:
    reg = registry()
    with pytest.raises(ConversionError, match="known versions: v2, v1, v3"):
        reg.convert(V1, "example.com/v9")
    with pytest.raises(ConversionError, match="no converters for kind 'Gadget'"):
        reg.convert({**V1, "kind": "Gadget"}, "example.com/v2")
    with pytest.raises(ConversionError, match="different groups"):
        reg.convert(V1, "other.com/v2")
    with pytest.raises(ValueError, match="already registered"):
        reg.kind("example.com", "Widget", hub="v1")
    with pytest.raises(ValueError, match="is the hub"):
        reg.converters("example.com", "Widget").spoke("v2", to_hub=v1_to_v2, from_hub=v2_to_v1)


def conversion_review(objects: list[Obj], desired: str) -> Obj:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "request": {"uid": "c-1", "desiredAPIVersion": desired, "objects": objects},
    }


async def test_webhook_conversion_review_success() -> None:
    out = await ConversionWebhook(registry()).serve(conversion_review([V1, V2], "example.com/v2"))
    assert out == {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "response": {"uid": "c-1", "convertedObjects": [V2, V2], "result": {"status": "Success"}},
    }


async def test_webhook_conversion_review_failure(caplog: pytest.LogCaptureFixture) -> None:
    def broken(obj: Obj) -> Obj:
        raise ValueError("bad size")

    reg = ConversionRegistry()
    reg.kind("example.com", "Widget", hub="v2").spoke("v1", to_hub=broken, from_hub=broken)
    out = await ConversionWebhook(reg).serve(conversion_review([V1], "example.com/v2"))
    assert out["response"] == {
        "uid": "c-1",
        "convertedObjects": [],
        "result": {
            "status": "Failure",
            "message": "converting Widget 'ns/w' to example.com/v2: ValueError: bad size",
        },
    }
    assert "converter failed for Widget 'ns/w'" in caplog.text
    out = await ConversionWebhook(reg).serve(conversion_review([V1], "example.com/v7"))
    assert out["response"]["result"]["status"] == "Failure"
    assert "is not convertible" in out["response"]["result"]["message"]


@pytest.mark.parametrize(
    "document",
    [
        "x",
        {"apiVersion": "apiextensions.k8s.io/v1beta1", "kind": "ConversionReview"},
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview"},
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview", "request": {}},
    ],
)
async def test_webhook_conversion_malformed(document: Any) -> None:
    with pytest.raises(MalformedReview):
        await ConversionWebhook(registry()).serve(document)
