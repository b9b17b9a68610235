"""Validation of probes and lifecycle handlers of containers.

``validateProbe``/``validateHandler``: exactly one handler per probe or hook (``exec``,
``httpGet``, ``tcpSocket``, ``grpc`` for probes; ``sleep`` for hooks), each with its
required fields, valid ports and schemes; non-negative timings; ``successThreshold`` of 1
for liveness and startup probes; no ``terminationGracePeriodSeconds`` on readiness probes;
and a ``sleep`` shorter than the pod's grace period.
"""

from __future__ import annotations

from pilothouse.apiserver.builtin._rules import is_valid_port_num, validate_port_num_or_name
from pilothouse.apiserver.builtin._util import (
    Obj,
    as_dict,
    child,
    forbidden,
    get_list,
    get_str,
    invalid,
    is_int,
    nonnegative,
    not_supported,
    required,
)
from pilothouse.apiserver.errors import Cause

_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc", "sleep")


def validate_probes(c: Obj, grace: object, path: str) -> list[Cause]:
    errs: list[Cause] = []
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = as_dict(c.get(probe_name))
        if probe is None:
            continue
        p = child(path, probe_name)
        errs += _validate_handler(probe, grace, p, allow_sleep=False)
        for field in (
            "initialDelaySeconds",
            "timeoutSeconds",
            "periodSeconds",
            "successThreshold",
            "failureThreshold",
        ):
            errs += nonnegative(child(p, field), probe.get(field))
        tgps = probe.get("terminationGracePeriodSeconds")
        if is_int(tgps) and tgps <= 0:
            errs.append(
                invalid(child(p, "terminationGracePeriodSeconds"), tgps, "must be greater than 0")
            )
        if probe_name == "readinessProbe" and tgps is not None:
            errs.append(
                invalid(
                    child(p, "terminationGracePeriodSeconds"),
                    tgps,
                    "must not be set for readinessProbes",
                )
            )
        elif probe_name != "readinessProbe" and probe.get("successThreshold") != 1:
            errs.append(
                invalid(child(p, "successThreshold"), probe.get("successThreshold"), "must be 1")
            )
    return errs


def validate_lifecycle(lifecycle: Obj, grace: object, path: str) -> list[Cause]:
    errs: list[Cause] = []
    for hook in ("postStart", "preStop"):
        handler = as_dict(lifecycle.get(hook))
        if handler is not None:
            errs += _validate_handler(handler, grace, child(path, hook), allow_sleep=True)
    return errs


def _validate_handler(handler: Obj, grace: object, path: str, *, allow_sleep: bool) -> list[Cause]:
    errs: list[Cause] = []
    count = 0
    for name in _HANDLERS:
        action = as_dict(handler.get(name))
        if (
            action is None
            or (name == "sleep" and not allow_sleep)
            or (name == "grpc" and allow_sleep)
        ):
            continue
        p = child(path, name)
        if count:
            errs.append(forbidden(p, "may not specify more than 1 handler type"))
            continue
        count += 1
        if name == "exec" and not get_list(action, "command"):
            errs.append(required(child(p, "command")))
        elif name == "httpGet":
            if not get_str(action, "path"):
                errs.append(required(child(p, "path")))
            errs += validate_port_num_or_name(child(p, "port"), action.get("port"))
            if action.get("scheme") not in ("HTTP", "HTTPS"):
                errs.append(
                    not_supported(child(p, "scheme"), action.get("scheme") or "", ("HTTP", "HTTPS"))
                )
        elif name == "tcpSocket":
            errs += validate_port_num_or_name(child(p, "port"), action.get("port"))
        elif name == "grpc":
            port = action.get("port")
            errs += [invalid(child(p, "port"), port, m) for m in is_valid_port_num(port)]
        elif name == "sleep":
            seconds = action.get("seconds")
            limit = grace if is_int(grace) else 0
            if not is_int(seconds) or seconds <= 0 or seconds > limit:
                errs.append(
                    invalid(
                        p,
                        seconds,
                        "must be greater than 0 and less than "
                        f"terminationGracePeriodSeconds ({limit})",
                    )
                )
    if count == 0:
        errs.append(required(path, "must specify a handler type"))
    return errs
