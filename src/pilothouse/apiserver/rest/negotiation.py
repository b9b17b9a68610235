"""Content negotiation for reads: plain objects, ``Table`` (kubectl get) or
``PartialObjectMetadata`` (metadata-only informers), chosen from the ``Accept`` header the way
kube-apiserver does: the first acceptable media type wins, ``as=`` selects a conversion."""

from __future__ import annotations

from typing import Any, Literal

Output = Literal["object", "table", "partial"]


def choose(accept: str | None) -> tuple[Output, str]:
    """The representation to answer with and the ``Content-Type`` to declare."""
    if not accept:
        return "object", "application/json"
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        params = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        if media not in ("application/json", "*/*", "application/*", "application/yaml"):
            continue
        as_ = params.get("as")
        group = params.get("g", "")
        if as_ == "Table" and group == "meta.k8s.io":
            return "table", f"application/json;as=Table;v={params.get('v', 'v1')};g=meta.k8s.io"
        if as_ in ("PartialObjectMetadata", "PartialObjectMetadataList") and group == "meta.k8s.io":
            return "partial", f"application/json;as={as_};v={params.get('v', 'v1')};g=meta.k8s.io"
        if as_ is None:
            return "object", "application/json"
    return "object", "application/json"


def partial(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }
