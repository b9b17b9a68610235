"""Admission review handling: validators, mutators, typed models, errors."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from pilothouse.apiserver.patch import jsonpatch as server_patch
from pilothouse.runtime.webhook.admission import (
    Admission,
    Denied,
    MutatingWebhook,
    ValidatingWebhook,
    Verdict,
    three_way_merge,
)
from pilothouse.runtime.webhook.review import MalformedReview

Obj = dict[str, Any]

WIDGET: Obj = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {"name": "w", "namespace": "default", "uid": "u-1", "managedFields": []},
    "spec": {"size": 1, "unknownToModel": {"kept": True}},
}


def review(
    operation: str = "CREATE",
    obj: Obj | None = WIDGET,
    old: Obj | None = None,
    *,
    dry_run: bool = False,
) -> Obj:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "req-1",
            "kind": {"group": "example.com", "version": "v1", "kind": "Widget"},
            "resource": {"group": "example.com", "version": "v1", "resource": "widgets"},
            "name": "w",
            "namespace": "default",
            "operation": operation,
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": copy.deepcopy(obj),
            "oldObject": copy.deepcopy(old),
            "dryRun": dry_run,
        },
    }


def patched(response: Obj, original: Obj = WIDGET) -> Obj:
    r = response["response"]
    assert r["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(r["patch"]))
    result: Obj = server_patch.apply(original, ops)
    return result


async def test_webhook_validator_allows_and_warns() -> None:
    seen: list[Admission[Obj]] = []

    async def validate(admission: Admission[Obj]) -> Verdict | None:
        seen.append(admission)
        admission.warn("first")
        return Verdict.allow("second")

    out = await ValidatingWebhook(validate).serve(review(dry_run=True))
    assert out == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "req-1", "allowed": True, "warnings": ["first", "second"]},
    }
    (admission,) = seen
    assert admission.operation == "CREATE" and admission.dry_run
    assert admission.object == WIDGET and admission.old_object is None
    assert admission.request.user_info.username == "alice"
    assert admission.name == "w" and admission.namespace == "default"


async def test_webhook_validator_none_means_allowed() -> None:
    async def validate(admission: Admission[Obj]) -> None:
        return None

    out = await ValidatingWebhook(validate).serve(review())
    assert out["response"] == {"uid": "req-1", "allowed": True}


async def test_webhook_validator_denies_by_verdict_and_by_exception() -> None:
    async def by_verdict(admission: Admission[Obj]) -> Verdict:
        return Verdict.deny("too big", warnings=["w"])

    async def by_raise(admission: Admission[Obj]) -> Verdict:
        raise Denied("spec.size: must be even", code=422, warnings=["careful"])

    out = await ValidatingWebhook(by_verdict).serve(review())
    assert out["response"] == {
        "uid": "req-1",
        "allowed": False,
        "status": {"code": 403, "reason": "Forbidden", "message": "too big"},
        "warnings": ["w"],
    }
    out = await ValidatingWebhook(by_raise).serve(review())
    assert out["response"]["status"] == {
        "code": 422,
        "reason": "Invalid",
        "message": "spec.size: must be even",
    }
    assert out["response"]["warnings"] == ["careful"]


async def test_webhook_handler_exception_is_a_500_denial(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(admission: Admission[Obj]) -> Verdict:
        raise KeyError("spec")

    out = await ValidatingWebhook(broken).serve(review())
    assert out["response"]["allowed"] is False
    assert out["response"]["status"] == {
        "code": 500,
        "reason": "InternalError",
        "message": "internal error in webhook handler: KeyError: 'spec'",
    }
    assert "failed for request req-1" in caplog.text


async def test_webhook_update_and_delete_carry_old_object() -> None:
    seen: list[tuple[str, Obj | None, Obj | None]] = []

    async def validate(admission: Admission[Obj]) -> None:
        seen.append((admission.operation, admission.object, admission.old_object))

    old = {**WIDGET, "spec": {"size": 0}}
    hook = ValidatingWebhook(validate)
    await hook.serve(review("UPDATE", WIDGET, old))
    await hook.serve(review("DELETE", None, old))
    await hook.serve(review("CONNECT", {"kind": "PodExecOptions", "command": ["sh"]}))
    assert seen == [("UPDATE", WIDGET, old), ("DELETE", None, old), ("CONNECT", None, None)]


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {}},
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"},
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "x"}},
        {**review(), "request": {**review()["request"], "operation": "PATCH"}},
    ],
)
async def test_webhook_malformed_reviews_are_refused(document: Any) -> None:
    async def validate(admission: Admission[Obj]) -> None:
        raise AssertionError("not called")

    with pytest.raises(MalformedReview):
        await ValidatingWebhook(validate).serve(document)


async def test_webhook_mutator_patch_adds_label_with_escaping() -> None:
    async def mutate(obj: Obj, admission: Admission[Obj]) -> None:
        obj["metadata"].setdefault("labels", {})["example.com/mutated"] = "yes"

    out = await MutatingWebhook(mutate).serve(review())
    ops = json.loads(base64.b64decode(out["response"]["patch"]))
    assert ops == [
        {"op": "add", "path": "/metadata/labels", "value": {"example.com/mutated": "yes"}}
    ]
    assert patched(out)["metadata"]["labels"] == {"example.com/mutated": "yes"}


async def test_webhook_mutator_without_change_sends_no_patch() -> None:
    async def mutate(obj: Obj, admission: Admission[Obj]) -> Obj:
        return obj

    out = await MutatingWebhook(mutate).serve(review())
    assert out["response"] == {"uid": "req-1", "allowed": True}


async def test_webhook_mutator_returning_new_object_and_not_called_on_delete() -> None:
    calls = 0

    async def mutate(obj: Obj, admission: Admission[Obj]) -> Obj:
        nonlocal calls
        calls += 1
        return {**obj, "spec": {"size": 2}}

    hook = MutatingWebhook(mutate)
    out = await hook.serve(review())
    assert patched(out)["spec"] == {"size": 2}
    out = await hook.serve(review("DELETE", None, WIDGET))
    assert out["response"] == {"uid": "req-1", "allowed": True} and calls == 1


async def test_webhook_mutator_errors() -> None:
    async def deny(obj: Obj, admission: Admission[Obj]) -> Obj:
        raise Denied("no widgets today")

    async def broken(obj: Obj, admission: Admission[Obj]) -> Obj:
        raise RuntimeError("boom")

    out = await MutatingWebhook(deny).serve(review())
    assert out["response"]["status"]["message"] == "no widgets today"
    out = await MutatingWebhook(broken).serve(review())
    assert out["response"]["status"]["code"] == 500
    assert "RuntimeError: boom" in out["response"]["status"]["message"]


class Meta(BaseModel):
    name: str
    namespace: str = ""
    labels: dict[str, str] = Field(default_factory=dict)


class Spec(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    size: int = 1
    color: str | None = None
    tolerations: list[str] = Field(default_factory=list)
    max_size: int = Field(10, alias="maxSize")


class Widget(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    api_version: str = Field(alias="apiVersion")
    kind: str
    metadata: Meta
    spec: Spec = Field(default_factory=Spec)


async def test_webhook_model_mutator_patches_only_what_changed() -> None:
    async def mutate(obj: Widget, admission: Admission[Widget]) -> Widget:
        assert admission.object is obj
        obj.spec.color = "blue"
        obj.metadata.labels["colored"] = "true"
        return obj

    out = await MutatingWebhook(mutate, model=Widget).serve(review())
    result = patched(out)
    # Unknown fields (managedFields, spec.unknownToModel) and model defaults (maxSize) untouched.
    assert result == {
        **WIDGET,
        "metadata": {**WIDGET["metadata"], "labels": {"colored": "true"}},
        "spec": {"size": 1, "unknownToModel": {"kept": True}, "color": "blue"},
    }


async def test_webhook_model_mutator_fills_a_missing_section() -> None:
    async def mutate(obj: Widget, admission: Admission[Widget]) -> None:
        obj.spec.tolerations.append("gpu")

    bare = {k: v for k, v in WIDGET.items() if k != "spec"}
    out = await MutatingWebhook(mutate, model=Widget).serve(review(obj=bare))
    assert patched(out, bare)["spec"] == {"tolerations": ["gpu"]}


async def test_webhook_model_decode_failure_is_a_400_denial() -> None:
    async def validate(admission: Admission[Widget]) -> None:
        raise AssertionError("not called")

    bad = {**WIDGET, "spec": {"size": "huge"}}
    out = await ValidatingWebhook(validate, model=Widget).serve(review(obj=bad))
    status = out["response"]["status"]
    assert status["code"] == 400 and "cannot decode the object" in status["message"]


async def test_webhook_typed_validator_sees_models() -> None:
    async def validate(admission: Admission[Widget]) -> Verdict:
        assert admission.object is not None and admission.old_object is not None
        if admission.object.spec.size < admission.old_object.spec.size:
            return Verdict.deny("spec.size may not shrink", code=422)
        return Verdict.allow()

    hook = ValidatingWebhook(validate, model=Widget)
    grown = {**WIDGET, "spec": {"size": 5}}
    out = await hook.serve(review("UPDATE", grown, WIDGET))
    assert out["response"]["allowed"] is True
    out = await hook.serve(review("UPDATE", WIDGET, grown))
    assert out["response"]["status"]["message"] == "spec.size may not shrink"


def test_webhook_three_way_merge() -> None:
    original = {"a": {"x": 1, "unknown": 2}, "l": [{"k": 1, "u": 1}], "gone": 1}
    baseline = {"a": {"x": 1}, "l": [{"k": 1}], "gone": 1, "d": {"v": None}}
    mutated = {"a": {"x": 2}, "l": [{"k": 1}, {"k": 2}], "d": {"v": 3}}
    assert three_way_merge(original, baseline, mutated) == {
        "a": {"x": 2, "unknown": 2},
        "l": [{"k": 1}, {"k": 2}],
        "d": {"v": 3},
    }
    assert three_way_merge(original, baseline, copy.deepcopy(baseline)) is original


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")

    spec: Any = None


async def test_webhook_model_with_untyped_fields_changed_in_place() -> None:
    async def mutate(obj: Loose, admission: Admission[Loose]) -> None:
        obj.spec["size"] = 9

    out = await MutatingWebhook(mutate, model=Loose).serve(review())
    assert patched(out) == {**WIDGET, "spec": {**WIDGET["spec"], "size": 9}}
