"""The parts of ``metadata`` the server owns, and the rules clients must follow for the rest.

On create the server assigns ``uid``, ``creationTimestamp`` and (for kinds whose strategy
tracks it) ``generation: 1``, and resolves ``generateName``. On update it keeps what clients
may not change (uid, creationTimestamp, deletionTimestamp, namespace, name), bumps
``generation`` exactly when something outside ``metadata`` and ``status`` changed, and forbids
adding finalizers to an object that is being deleted.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from pilothouse.api import validation as api_validation
from pilothouse.apiserver import errors, resources

# The alphabet kube uses for generateName suffixes (utilrand.String): no vowels, no
# confusable characters, so generated names never spell words.
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SUFFIX = 5
_MAX_NAME = 253

# Built-in kinds whose REST strategy sets metadata.generation; every custom resource does too.
_GENERATION_TRACKED = frozenset(
    {
        "deployments.apps",
        "replicasets.apps",
        "statefulsets.apps",
        "daemonsets.apps",
        "replicationcontrollers",
        "jobs.batch",
        "cronjobs.batch",
        "horizontalpodautoscalers.autoscaling",
        "poddisruptionbudgets.policy",
        "ingresses.networking.k8s.io",
        "networkpolicies.networking.k8s.io",
        "customresourcedefinitions.apiextensions.k8s.io",
        "validatingwebhookconfigurations.admissionregistration.k8s.io",
        "mutatingwebhookconfigurations.admissionregistration.k8s.io",
        "validatingadmissionpolicies.admissionregistration.k8s.io",
        "validatingadmissionpolicybindings.admissionregistration.k8s.io",
        "flowschemas.flowcontrol.apiserver.k8s.io",
        "prioritylevelconfigurations.flowcontrol.apiserver.k8s.io",
    }
)

# Fields of metadata only the server writes; values sent by clients are ignored.
_SERVER_OWNED = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
)


def tracks_generation(rt: resources.ResourceType) -> bool:
    return rt.is_custom or rt.group_resource in _GENERATION_TRACKED


def generate_name(prefix: str) -> str:
    prefix = prefix[: _MAX_NAME - _SUFFIX]
    return prefix + "".join(random.choices(_ALPHABET, k=_SUFFIX))


def check_identity(
    rt: resources.ResourceType, obj: Mapping[str, Any], namespace: str, name: str | None
) -> None:
    """400 if the body's apiVersion, kind, namespace or name contradict the URL."""
    api_version = obj.get("apiVersion")
    if api_version and api_version != rt.api_version:
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({rt.api_version})"
        )
    kind = obj.get("kind")
    if kind and kind != rt.kind:
        raise errors.bad_request(
            f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
        )
    meta = obj.get("metadata")
    if meta is None:
        return
    if not isinstance(meta, Mapping):
        raise errors.bad_request("metadata must be an object")
    body_ns = meta.get("namespace")
    if rt.namespaced and body_ns and namespace and body_ns != namespace:
        raise errors.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    if name is not None and meta.get("name") and meta["name"] != name:
        raise errors.bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
        )


def normalise(rt: resources.ResourceType, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """Fill apiVersion/kind from the URL and put metadata in canonical form."""
    obj["apiVersion"] = rt.api_version
    obj["kind"] = rt.kind
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
        obj["metadata"] = meta
    if rt.namespaced:
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    for key in ("labels", "annotations"):
        if key in meta and not meta[key]:
            del meta[key]
    return meta


def prepare_create(
    rt: resources.ResourceType, obj: dict[str, Any], namespace: str, uid: str, now: str
) -> None:
    meta = normalise(rt, obj, namespace)
    for key in _SERVER_OWNED:
        meta.pop(key, None)
    meta.pop("resourceVersion", None)
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = generate_name(str(meta["generateName"]))
    meta["uid"] = uid
    meta["creationTimestamp"] = now
    if tracks_generation(rt):
        meta["generation"] = 1


def prepare_update(rt: resources.ResourceType, obj: dict[str, Any], old: Mapping[str, Any]) -> None:
    """Carry the server-owned metadata over from ``old`` and recompute ``generation``."""
    old_meta = old["metadata"]
    meta = normalise(rt, obj, old_meta.get("namespace", ""))
    meta["name"] = old_meta["name"]
    for key in _SERVER_OWNED:
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    if "generateName" in old_meta and "generateName" not in meta:
        meta["generateName"] = old_meta["generateName"]
    if tracks_generation(rt) and spec_changed(rt, obj, old):
        meta["generation"] = int(old_meta.get("generation", 0)) + 1


def spec_changed(
    rt: resources.ResourceType, new: Mapping[str, Any], old: Mapping[str, Any]
) -> bool:
    """Whether anything outside metadata (and status, when it has its own subresource)
    differs."""
    skip = {"metadata", "apiVersion", "kind"}
    if rt.has_status:
        skip.add("status")
    keys = (set(new) | set(old)) - skip
    return any(new.get(k) != old.get(k) for k in keys)


def check_finalizers(obj: Mapping[str, Any], old: Mapping[str, Any]) -> list[errors.Cause]:
    """No new finalizers once an object is being deleted."""
    old_meta = old["metadata"]
    if not old_meta.get("deletionTimestamp"):
        return []
    before = set(old_meta.get("finalizers") or ())
    added = [f for f in obj["metadata"].get("finalizers") or () if f not in before]
    if not added:
        return []
    quoted = ", ".join(f'"{f}"' for f in added)
    return [
        errors.Cause(
            "FieldValueForbidden",
            f"Forbidden: no new finalizers can be added if the object is being deleted, "
            f"found new finalizers []string{{{quoted}}}",
            "metadata.finalizers",
        )
    ]


def validate(rt: resources.ResourceType, obj: Mapping[str, Any]) -> list[errors.Cause]:
    """Metadata validation common to every kind: name, labels, annotations, finalizers,
    owner references."""
    meta = obj["metadata"]
    causes: list[errors.Cause] = []
    name = meta.get("name")
    if not name:
        causes.append(
            errors.Cause(
                "FieldValueRequired",
                "Required value: name or generateName is required",
                "metadata.name",
            )
        )
    elif not isinstance(name, str):
        causes.append(
            errors.Cause(
                "FieldValueInvalid", f"Invalid value: {name!r}: must be a string", "metadata.name"
            )
        )
    else:
        for msg in api_validation.validate_object_name(rt.group_resource, name):
            causes.append(
                errors.Cause(
                    "FieldValueInvalid", f'Invalid value: "{name}": {msg}', "metadata.name"
                )
            )
    gen = meta.get("generateName")
    if gen is not None and not isinstance(gen, str):
        causes.append(
            errors.Cause(
                "FieldValueInvalid", "Invalid value: must be a string", "metadata.generateName"
            )
        )
    for fe in api_validation.validate_labels(meta.get("labels"), "metadata.labels"):
        causes.append(errors.Cause(fe.reason, fe.body, fe.field))
    for fe in api_validation.validate_annotations(meta.get("annotations"), "metadata.annotations"):
        causes.append(errors.Cause(fe.reason, fe.body, fe.field))
    finalizers = meta.get("finalizers") or []
    if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
        causes.append(
            errors.Cause(
                "FieldValueInvalid",
                "Invalid value: must be a list of strings",
                "metadata.finalizers",
            )
        )
    else:
        for i, f in enumerate(finalizers):
            for msg in api_validation.is_qualified_name(f):
                causes.append(
                    errors.Cause(
                        "FieldValueInvalid",
                        f'Invalid value: "{f}": {msg}',
                        f"metadata.finalizers[{i}]",
                    )
                )
    owners = meta.get("ownerReferences") or []
    if not isinstance(owners, list):
        causes.append(
            errors.Cause(
                "FieldValueInvalid", "Invalid value: must be a list", "metadata.ownerReferences"
            )
        )
    else:
        controllers = 0
        for i, ref in enumerate(owners):
            path = f"metadata.ownerReferences[{i}]"
            if not isinstance(ref, Mapping):
                causes.append(
                    errors.Cause("FieldValueInvalid", "Invalid value: must be an object", path)
                )
                continue
            for key in ("apiVersion", "kind", "name", "uid"):
                if not ref.get(key):
                    causes.append(
                        errors.Cause(
                            "FieldValueRequired" if key != "name" else "FieldValueInvalid",
                            "Required value"
                            if key != "name"
                            else 'Invalid value: "": name must not be empty',
                            f"{path}.{key}",
                        )
                    )
            if ref.get("controller") is True:
                controllers += 1
        if controllers > 1:
            causes.append(
                errors.Cause(
                    "FieldValueInvalid",
                    "Invalid value: []v1.OwnerReference{...}: Only one reference can have "
                    "Controller set to true",
                    "metadata.ownerReferences",
                )
            )
    return causes
