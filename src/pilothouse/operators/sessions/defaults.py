"""Session defaulting: what the mutating webhook (:mod:`.admission`) fills in, as pure
functions over the Session's JSON ``spec``.

Sources, in order (a later one never overrides what an earlier one or the user set):

1. **The namespace** -- two annotations on the Namespace:

   * ``sessions.pilothouse.dev/default-template``: the SessionTemplate of sessions that
     name neither a template nor an image;
   * ``sessions.pilothouse.dev/default-max-session-duration``: ``maxSessionDuration``
     (a Go duration) of sessions that set none. A malformed value is ignored with a
     warning to the client, never a denial: a namespace admin's typo must not stop users.

   There is no namespace default for ``idleTimeout``: the CRD schema defaults it to
   ``30m`` before admission, so a webhook cannot tell "unset" from "30m".
2. **The template** -- ``resources``, when the session has none, are copied from its
   template, so the session records what it was admitted with: the quota webhook counted
   exactly these, and a later edit of the template cannot raise a running session's usage
   behind the quota's back. The image and the env are deliberately *not* copied: they
   stay resolved at reconcile time (:func:`.workload.resolve`, the session's own values
   winning, env merged by name), so editing a template still rolls its image and env out
   to every session using it, as :mod:`.template` promises.
3. **Static** -- ``state: running`` (the CRD schema defaults it as well; kept here so a
   Session admitted by a server without schema defaulting is still complete).

Resources are taken whole, never merged key by key, matching :func:`.workload.resolve`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pilothouse.operators.sessions import common, duration
from pilothouse.operators.sessions import template as template_mod

__all__ = [
    "ANNOTATION_DEFAULT_MAX_SESSION_DURATION",
    "ANNOTATION_DEFAULT_TEMPLATE",
    "NamespaceDefaults",
    "apply",
    "template_to_use",
]

ANNOTATION_DEFAULT_TEMPLATE = f"{common.GROUP}/default-template"
ANNOTATION_DEFAULT_MAX_SESSION_DURATION = f"{common.GROUP}/default-max-session-duration"

_DURATION = re.compile(duration.PATTERN)

Obj = dict[str, Any]


@dataclass(frozen=True)
class NamespaceDefaults:
    """A namespace's session defaults, read from its annotations."""

    template: str | None = None
    max_session_duration: str | None = None
    #: Why an annotation was ignored (shown to the client as admission warnings).
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_annotations(cls, annotations: Mapping[str, str] | None) -> NamespaceDefaults:
        annotations = annotations or {}
        warnings: list[str] = []
        template = annotations.get(ANNOTATION_DEFAULT_TEMPLATE) or None
        max_duration = annotations.get(ANNOTATION_DEFAULT_MAX_SESSION_DURATION) or None
        if max_duration is not None and not _DURATION.fullmatch(max_duration):
            warnings.append(
                f"namespace annotation {ANNOTATION_DEFAULT_MAX_SESSION_DURATION}="
                f"{max_duration!r} is not a Go duration; ignored"
            )
            max_duration = None
        return cls(template, max_duration, tuple(warnings))


def template_to_use(spec: Mapping[str, Any], ns: NamespaceDefaults) -> str | None:
    """The template the session will name once defaulted: its own, else the namespace's
    default when it names no image either."""
    own = spec.get("template")
    if own:
        return str(own)
    if spec.get("image"):
        return None
    return ns.template


def apply(
    spec: Mapping[str, Any],
    ns: NamespaceDefaults,
    template: template_mod.SessionTemplateSpec | None,
) -> Obj:
    """A defaulted copy of ``spec`` (JSON, camelCase); ``template`` is the SessionTemplate
    named by :func:`template_to_use` (None when there is none or it does not exist yet)."""
    out: Obj = copy.deepcopy(dict(spec))
    chosen = template_to_use(out, ns)
    if chosen and not out.get("template"):
        out["template"] = chosen
    if ns.max_session_duration and not out.get("maxSessionDuration"):
        out["maxSessionDuration"] = ns.max_session_duration
    if template is not None and template.resources is not None and not out.get("resources"):
        dumped = template.resources.model_dump(mode="json", by_alias=True, exclude_none=True)
        if dumped:
            out["resources"] = dumped
    out.setdefault("state", "running")
    return out
