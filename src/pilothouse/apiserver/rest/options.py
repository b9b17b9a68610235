"""Query parameters and ``DeleteOptions`` of write requests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pilothouse.apiserver import errors

FIELD_VALIDATION = ("Strict", "Warn", "Ignore")


@dataclass
class WriteOptions:
    dry_run: bool = False
    field_manager: str = ""
    field_validation: str = "Warn"
    force: bool = False

    @classmethod
    def from_query(cls, query: Mapping[str, str], *, patch: bool = False) -> WriteOptions:
        dry = query.get("dryRun")
        if dry not in (None, "", "All"):
            raise errors.bad_request(f'Invalid dry run value: {dry!r}; supported values: "All"')
        fv = query.get("fieldValidation") or "Warn"
        if fv not in FIELD_VALIDATION:
            raise errors.bad_request(
                f'fieldValidation must be one of "Ignore", "Warn", or "Strict", got {fv!r}'
            )
        force_s = query.get("force", "")
        if force_s not in ("", "true", "false"):
            raise errors.bad_request(f"invalid boolean value for force: {force_s!r}")
        manager = query.get("fieldManager", "")
        if len(manager) > 128:
            raise errors.bad_request("fieldManager: Too long: may not be more than 128 bytes")
        return cls(
            dry_run=dry == "All",
            field_manager=manager,
            field_validation=fv,
            force=force_s == "true",
        )


@dataclass
class DeleteOptions:
    dry_run: bool = False
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None

    @classmethod
    def parse(cls, body: Mapping[str, Any] | None, query: Mapping[str, str]) -> DeleteOptions:
        opts = cls()
        src: dict[str, Any] = dict(body or {})
        for key in ("gracePeriodSeconds", "propagationPolicy", "orphanDependents"):
            if key in query and key not in src:
                src[key] = query[key]
        dry = src.get("dryRun") or ([query["dryRun"]] if "dryRun" in query else [])
        if isinstance(dry, str):
            dry = [dry]
        if not isinstance(dry, list) or any(d != "All" for d in dry):
            raise errors.bad_request(f'Invalid dry run value: {dry!r}; supported values: "All"')
        opts.dry_run = bool(dry)
        gps = src.get("gracePeriodSeconds")
        if gps is not None:
            try:
                opts.grace_period_seconds = int(gps)
            except (TypeError, ValueError):
                raise errors.bad_request(f"invalid gracePeriodSeconds: {gps!r}") from None
        policy = src.get("propagationPolicy")
        orphan = src.get("orphanDependents")
        if orphan is not None and policy is not None:
            raise errors.ApiError(
                422,
                "Invalid",
                'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: '
                f'"{policy}": orphanDependents and deletionPropagation cannot be both set',
            )
        if orphan is not None:
            policy = "Orphan" if orphan in (True, "true") else "Background"
        if policy is not None and policy not in ("Orphan", "Background", "Foreground"):
            raise errors.ApiError(
                422,
                "Invalid",
                f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
                f'"{policy}": supported values: "Foreground", "Background", "Orphan", "nil"',
            )
        opts.propagation_policy = policy
        pre = src.get("preconditions") or {}
        if not isinstance(pre, Mapping):
            raise errors.bad_request("preconditions must be an object")
        opts.precondition_uid = pre.get("uid")
        opts.precondition_rv = pre.get("resourceVersion")
        return opts
