"""The Session admission webhooks: defaults (mutating) and validation with quota
(validating), answered from the manager's cache. :func:`setup_webhooks` registers both.

Mutating (:meth:`SessionAdmission.default`, rules in :mod:`.defaults`): the namespace's
default template and maximum session duration (Namespace annotations), the template's
resources, ``state: running``. The API server runs it before the validating webhook, so
validation sees the defaulted object.

Validating (:meth:`SessionAdmission.validate`):

* on create: the name is at most :data:`MAX_NAME_LENGTH` (55) characters, so the
  ``session-<name>`` Service the lifecycle controller creates is a valid 63-character
  name; the session names a template or an image;
* on update: ``spec.user`` is immutable (re-assigning a session would move its usage to
  another user's quota without a check);
* quota, on create and on any update that raises what the session counts (starting it:
  hibernated or terminated to running; larger resources; a larger or newly kept home),
  with the arithmetic in :mod:`.quotacheck`. The denial (HTTP 403) names the limit, the
  usage and the request, one sentence per exceeded limit.

Why from the cache: an admission webhook is on the path of every Session write (the
sessions API's creates, the idle controller's hibernations), so it must answer in
microseconds and must not multiply API-server load; SessionQuotas, SessionTemplates,
Sessions and Namespaces are all read from the manager's informers, and a Session's parsed
spec is memoised by resourceVersion so a request costs O(sessions in the namespace) cheap
lookups, not a decode of each. The price is the usual one of cache-based quota
(Kubernetes' own ResourceQuota admission avoids it only by writing usage to the quota
object): two creates racing within the cache's propagation delay (milliseconds) can both
be admitted. The lifecycle controller does not re-check quota.

Never in the way of clean-up: a Session being deleted (``deletionTimestamp`` set) is
always admitted, so a finalizer can be removed from a session that no longer passes
today's rules; and deletes are not sent to the webhook at all.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pydantic

from pilothouse.api import kinds
from pilothouse.operators.sessions import defaults, quotacheck
from pilothouse.operators.sessions import quota as quota_mod
from pilothouse.operators.sessions import session as session_mod
from pilothouse.operators.sessions import template as template_mod
from pilothouse.runtime import cache as cache_mod
from pilothouse.runtime import store as store_mod
from pilothouse.runtime.webhook import admission

if TYPE_CHECKING:
    from pilothouse.runtime import informer as informer_mod
    from pilothouse.runtime import manager as manager_mod

__all__ = ["MAX_NAME_LENGTH", "SessionAdmission", "setup_webhooks"]

log = logging.getLogger(__name__)

#: ``session-`` (8 characters) plus the name must fit a 63-character Service name.
MAX_NAME_LENGTH = 55
#: How long a request waits for an informer's first list before it is refused (the
#: manager serves webhooks before its cache has synced; the API server's timeout is 10s).
CACHE_WAIT = 5.0
#: Characters the API server appends to ``metadata.generateName``.
_GENERATED_SUFFIX = 5

SESSION = session_mod.Session.kind_info()
TEMPLATE = template_mod.SessionTemplate.kind_info()
QUOTA = quota_mod.SessionQuota.kind_info()

Obj = dict[str, Any]


@dataclass(frozen=True)
class _Counted:
    """What one cached session counts, valid while the session's and its template's
    resourceVersions are those recorded."""

    resource_version: str
    #: The template the usage came from (running sessions without resources of their own),
    #: and its resourceVersion then (None: it did not exist).
    template: str | None
    template_version: str | None
    user: str
    usage: quotacheck.Usage


def _bad_request(message: str) -> admission.Denied:
    return admission.Denied(message, code=400)


def _parse_spec(obj: Obj) -> session_mod.SessionSpec:
    try:
        return session_mod.SessionSpec.model_validate(obj.get("spec") or {})
    except pydantic.ValidationError as e:
        raise _bad_request(f"invalid Session spec: {e}") from None


class SessionAdmission:
    """The two handlers, sharing the cache and the parsed-session memo."""

    def __init__(self, cache: cache_mod.Cache) -> None:
        self.cache = cache
        # Per namespace, per namespace/name key: what the session counts. Pruned on every
        # quota check in the namespace, so deleted sessions drop out and it never outgrows
        # the cache.
        self._counted: dict[str, dict[str, _Counted]] = {}

    # -- cache reads -----------------------------------------------------------------------

    async def _informer(self, kind: kinds.Kind) -> informer_mod.Informer:
        inf = self.cache.informer(kind)
        if not inf.has_synced:
            try:
                await inf.wait_synced(CACHE_WAIT)
            except TimeoutError:
                raise admission.Denied(
                    f"the sessions webhook has not loaded {kind.plural} yet; retry shortly",
                    code=503,
                    reason="ServiceUnavailable",
                ) from None
        return inf

    async def _template(
        self, namespace: str, name: str | None
    ) -> template_mod.SessionTemplateSpec | None:
        if not name:
            return None
        inf = await self._informer(TEMPLATE)
        obj = inf.store.get(store_mod.make_key(namespace, name))
        if obj is None:
            return None
        try:
            return template_mod.SessionTemplateSpec.model_validate(obj.get("spec") or {})
        except pydantic.ValidationError:
            # A template the schema let through but the model refuses: treat as absent,
            # as the lifecycle controller's resolve would fail on it too.
            log.warning("SessionTemplate %s/%s does not parse; ignored", namespace, name)
            return None

    async def _namespace_defaults(self, namespace: str) -> defaults.NamespaceDefaults:
        inf = await self._informer(kinds.NAMESPACE)
        ns = inf.store.get(store_mod.make_key(None, namespace))
        annotations = ((ns or {}).get("metadata") or {}).get("annotations")
        return defaults.NamespaceDefaults.from_annotations(annotations)

    async def _quotas(self, namespace: str) -> dict[str, quota_mod.SessionQuotaSpec]:
        inf = await self._informer(QUOTA)
        out = {}
        for obj in inf.store.by_index(store_mod.BY_NAMESPACE, namespace):
            name = obj["metadata"]["name"]
            try:
                out[name] = quota_mod.SessionQuotaSpec.model_validate(obj.get("spec") or {})
            except pydantic.ValidationError as e:
                # Fail closed: a quota nobody can read must not silently allow everything.
                raise _bad_request(f'SessionQuota "{name}" is invalid: {e}') from None
        return out

    async def _others(self, namespace: str, exclude: str) -> list[tuple[str, quotacheck.Usage]]:
        """(user, usage) of the namespace's cached sessions but ``exclude``. Memoised by
        resourceVersion (the session's and its template's), so a quiet namespace costs
        dictionary lookups, not a decode and a quantity parse per session."""
        sessions = (await self._informer(SESSION)).store
        templates = (await self._informer(TEMPLATE)).store
        out: list[tuple[str, quotacheck.Usage]] = []
        memo = self._counted.setdefault(namespace, {})
        keys = sessions.index_keys(store_mod.BY_NAMESPACE, namespace)
        for key in keys:
            if key.partition("/")[2] == exclude:
                continue
            rv = sessions.resource_version(key) or ""
            counted = memo.get(key)
            if (
                counted is None
                or counted.resource_version != rv
                or (
                    counted.template is not None
                    and templates.resource_version(store_mod.make_key(namespace, counted.template))
                    != counted.template_version
                )
            ):
                counted = await self._count(namespace, key, rv)
                if counted is None:
                    continue
                memo[key] = counted
            out.append((counted.user, counted.usage))
        for key in memo.keys() - keys:
            del memo[key]
        return out

    async def _count(self, namespace: str, key: str, rv: str) -> _Counted | None:
        obj = (await self._informer(SESSION)).store.get(key)
        if obj is None:
            return None
        try:
            spec = session_mod.SessionSpec.model_validate(obj.get("spec") or {})
        except pydantic.ValidationError:
            log.warning("Session %s does not parse; not counted for quota", key)
            return None
        uses_template = spec.state == "running" and spec.resources is None and spec.template
        template = spec.template if uses_template else None
        tkey = store_mod.make_key(namespace, template) if template else None
        tstore = (await self._informer(TEMPLATE)).store
        template_version = tstore.resource_version(tkey) if tkey else None
        tmpl = await self._template(namespace, template)
        try:
            usage = quotacheck.session_usage(spec, tmpl.resources if tmpl else None)
        except quotacheck.QuantityError as e:
            # Only a session admitted before these webhooks can hold a bad quantity; it must
            # not block every other user of the namespace, so it is left out (and logged).
            log.warning("Session %s is not counted for quota: %s", key, e)
            return None
        return _Counted(rv, template, template_version, spec.user, usage)

    async def _usage(
        self,
        namespace: str,
        spec: session_mod.SessionSpec,
        templates: dict[str | None, template_mod.SessionTemplateSpec | None],
    ) -> quotacheck.Usage:
        if spec.template not in templates:
            templates[spec.template] = await self._template(namespace, spec.template)
        tmpl = templates[spec.template]
        try:
            return quotacheck.session_usage(spec, tmpl.resources if tmpl else None)
        except quotacheck.QuantityError as e:
            raise _bad_request(str(e)) from None

    # -- handlers --------------------------------------------------------------------------

    async def default(self, obj: Obj, review: admission.Admission[Obj]) -> Obj | None:
        """The mutating webhook: fills the Session's spec in place (see :mod:`.defaults`)."""
        if (obj.get("metadata") or {}).get("deletionTimestamp"):
            return None
        namespace = review.namespace or (obj.get("metadata") or {}).get("namespace") or ""
        spec = obj.get("spec") or {}
        ns = await self._namespace_defaults(namespace)
        for warning in ns.warnings:
            review.warn(warning)
        template = await self._template(namespace, defaults.template_to_use(spec, ns))
        obj["spec"] = defaults.apply(spec, ns, template)
        return None

    async def validate(self, review: admission.Admission[Obj]) -> admission.Verdict | None:
        """The validating webhook: name, user, image source, quota."""
        obj = review.object
        if obj is None:
            return None
        meta = obj.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return None
        spec = _parse_spec(obj)
        old_spec = _parse_spec(review.old_object) if review.old_object is not None else None
        if review.operation == "CREATE":
            _check_create(meta, spec)
        elif old_spec is not None and old_spec.user != spec.user:
            raise _bad_request(
                f"spec.user is immutable (was {old_spec.user!r}); create a new session instead"
            )
        await self._check_quota(
            review.namespace or meta.get("namespace") or "", meta, spec, old_spec
        )
        return None

    async def _check_quota(
        self,
        namespace: str,
        meta: Obj,
        spec: session_mod.SessionSpec,
        old_spec: session_mod.SessionSpec | None,
    ) -> None:
        templates: dict[str | None, template_mod.SessionTemplateSpec | None] = {}
        new = await self._usage(namespace, spec, templates)
        old = quotacheck.Usage()
        # A stored session with a bad quantity (admitted before these webhooks) is checked
        # as if it were new, rather than having every update refused.
        if old_spec is not None:
            with contextlib.suppress(admission.Denied):
                old = await self._usage(namespace, old_spec, templates)
        if not quotacheck.increase(new, old).any_positive():
            return
        quotas = await self._quotas(namespace)
        if not quotas:
            return
        others = await self._others(namespace, exclude=meta.get("name") or "")
        try:
            violations = quotacheck.evaluate(
                namespace=namespace,
                user=spec.user,
                new=new,
                old=old,
                others=others,
                quotas=quotas,
            )
        except quotacheck.QuantityError as e:
            raise _bad_request(str(e)) from None
        if violations:
            raise admission.Denied("; ".join(v.message for v in violations), code=403)


def _check_create(meta: Obj, spec: session_mod.SessionSpec) -> None:
    problems = []
    name = meta.get("name") or ""
    generate = meta.get("generateName") or ""
    length = len(name) if name else len(generate) + _GENERATED_SUFFIX
    if length > MAX_NAME_LENGTH:
        what = "metadata.name" if name else "metadata.generateName (with its random suffix)"
        problems.append(
            f"{what}: at most {MAX_NAME_LENGTH} characters, so that the session's Service "
            f'"session-<name>" is a valid name (got {length})'
        )
    if not spec.user.strip():
        problems.append("spec.user: required")
    if not spec.template and not spec.image:
        problems.append(
            "spec: name a template or an image (or set the namespace annotation "
            f"{defaults.ANNOTATION_DEFAULT_TEMPLATE})"
        )
    if problems:
        raise _bad_request("; ".join(problems))


def setup_webhooks(mgr: manager_mod.Manager) -> SessionAdmission:
    """Register the Session mutating and validating webhooks on ``mgr`` (served by its
    webhook server; registered with the cluster when it runs with ``webhook_register``).
    The informers they read are created here, so they start and sync with the manager."""
    for kind in (SESSION, TEMPLATE, QUOTA, kinds.NAMESPACE):
        mgr.cache.informer(kind)
    handlers = SessionAdmission(mgr.cache)
    (
        mgr.webhook_builder()
        .for_(SESSION)
        .with_validator(handlers.validate)
        .with_defaulter(handlers.default)
        .complete()
    )
    return handlers
