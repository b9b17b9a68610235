"""Dynamic admission: calling mutating and validating webhooks the way kube-apiserver does.

:class:`Dispatcher` reads the current ``MutatingWebhookConfiguration`` /
``ValidatingWebhookConfiguration`` objects on every request, picks the webhooks whose
``rules``, ``namespaceSelector``, ``objectSelector`` and ``matchConditions`` match, POSTs an
``admission.k8s.io/v1`` ``AdmissionReview`` to each over verified HTTPS, and turns the
answers into a mutated object, warnings, or an :class:`ApiError` worded like the real server
(k8s.io/apiserver/pkg/admission/plugin/webhook: generic, mutating, validating, errors).

Behaviour carried over from kube-apiserver:

* Configurations run sorted by name, webhooks in their listed order. Mutating webhooks run
  one after another; validating webhooks all run in parallel and the first failure (in
  webhook order, where the real server takes whichever finishes first) is reported.
* Failures to call a webhook (connection, TLS, timeout, malformed response) obey
  ``failurePolicy``: ``Fail`` (the default) answers 500 ``Internal error occurred: failed
  calling webhook "<name>": ...``, ``Ignore`` skips the webhook. Denials, dry-run
  refusals and errors applying a patch are never ignored.
* A denial keeps the webhook's ``status``: code (below 400 becomes 400), reason, details,
  message prefixed ``admission webhook "<name>" denied the request: ``.
* ``reinvocationPolicy: IfNeeded``: when a webhook changes the object, the IfNeeded webhooks
  that already ran are re-run once, in order, after the first pass.
* ``namespaceSelector`` never exempts cluster-scoped objects; a Namespace is matched on its
  own labels; a namespaced request without namespace labels is the real server's 404
  ``namespaces "<ns>" not found``. ``objectSelector`` matches the new or the old object.
  Selector or ``matchConditions`` errors count only for webhooks whose rules apply; a
  ``matchConditions`` error is 403 Forbidden under ``Fail`` and skips the webhook under
  ``Ignore``, while any condition evaluating to false skips it.
* ``matchPolicy`` needs no work: we serve one version per resource, so Equivalent == Exact.
* Objects of the admissionregistration configuration kinds never go to webhooks.
* The request URL carries ``?timeout=<n>s`` like the real client, and call errors read like
  Go's (``Post "<url>": context deadline exceeded``, ``x509: certificate signed by unknown
  authority``, ``dial tcp ...: connect: connection refused``) so messages match.

Pilothouse specifics: ``clientConfig.service`` cannot be routed (there is no cluster network),
so a ``service_resolver(namespace, name, port)`` returns the base URL (``https://host:port``)
to dial; TLS is still verified against ``<name>.<namespace>.svc`` as the real server does.
Only ``admissionReviewVersions: [v1]`` is spoken. ``matchConditions`` are evaluated with
cel-python (variables ``object``, ``oldObject``, ``request``; ``authorizer`` is not offered).
Audit annotations are ignored.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import socket
import ssl
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import orjson
from yarl import URL

from pilothouse.api.labels import from_label_selector
from pilothouse.api.validation import go_quote
from pilothouse.apiserver.errors import ApiError, bad_request, forbidden, not_found
from pilothouse.apiserver.patch.jsonpatch import apply as apply_json_patch
from pilothouse.apiserver.resources import ResourceType
from pilothouse.pki import ssl_client_context

try:
    import celpy
    from celpy.adapter import json_to_cel
    from celpy.celtypes import BoolType

    _CEL_ENV: Any = celpy.Environment()
except ImportError:  # pragma: no cover - cel-python is a declared dependency
    _CEL_ENV = None

ServiceResolver = Callable[[str, str, int], str | None]

_REVIEW_API_VERSION = "admission.k8s.io/v1"
# Admission configuration kinds never go to webhooks, so a broken webhook cannot lock out
# its own repair (rules.IsExemptAdmissionConfigurationResource).
_EXEMPT_KINDS = frozenset(
    {
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
    }
)
_DEFAULT_TIMEOUT = 10
_MAX_TIMEOUT = 30
# Go's x509 wording for the OpenSSL verification failures (X509_V_ERR_*) webhooks cause.
_X509_MESSAGES = {
    **dict.fromkeys((9, 10), "x509: certificate has expired or is not yet valid"),
    **dict.fromkeys((18, 19, 20, 21), "x509: certificate signed by unknown authority"),
}
# client-go's messages for non-2xx answers whose body is not a Status.
_HTTP_MESSAGES = {
    400: "the server rejected our request for an unknown reason",
    401: "the server has asked for the client to provide credentials",
    403: "the server does not allow access to the requested resource",
    404: "the server could not find the requested resource",
    405: "the server does not allow this method on the requested resource",
    413: "the server has rejected the request because the request entity is too large",
    429: "the server has received too many requests and has asked us to try again later",
    503: "the server is currently unable to handle the request",
    504: (
        "the server was unable to return a response in the time allotted, "
        "but may still be processing the request"
    ),
}


@dataclass
class Attributes:
    """One request as admission sees it (the fields of ``admission.Attributes``)."""

    operation: str
    resource: ResourceType
    subresource: str
    namespace: str
    name: str
    obj: dict[str, Any] | None
    old_obj: dict[str, Any] | None
    dry_run: bool = False
    options: dict[str, Any] | None = None
    user_info: dict[str, Any] = field(default_factory=dict)
    # Labels of the object's namespace; None for cluster-scoped objects. For Namespace
    # objects the object's own labels (old object's on DELETE) are used when None.
    namespace_labels: Mapping[str, str] | None = None


def _no_service_resolver(namespace: str, name: str, port: int) -> str | None:
    raise LookupError(
        f"cannot route to service {namespace}/{name}:{port}: the embedded API server has no "
        "cluster network; use clientConfig.url or configure a service resolver"
    )


def _internal(message: str) -> ApiError:
    """``apierrors.NewInternalError``: the message is repeated as the single cause."""
    details = {"causes": [{"message": message}]}
    return ApiError(500, "InternalError", f"Internal error occurred: {message}", details)


class _CallError(Exception):
    """``ErrCallingWebhook``: a failure subject to ``failurePolicy``."""

    def __init__(self, webhook: str, reason: str) -> None:
        super().__init__(f"failed calling webhook {go_quote(webhook)}: {reason}")

    def to_api_error(self) -> ApiError:
        return _internal(str(self))


@dataclass(frozen=True)
class _Hook:
    uid: str
    spec: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))

    @property
    def ignore_failures(self) -> bool:
        return self.spec.get("failurePolicy") == "Ignore"


@dataclass
class _Reinvocation:
    """``webhookReinvokeContext``: which IfNeeded webhooks must run again."""

    previously_invoked: set[str] = field(default_factory=set)
    to_reinvoke: set[str] = field(default_factory=set)
    needed: bool = False

    def object_changed(self) -> None:
        self.to_reinvoke |= self.previously_invoked
        self.previously_invoked = set()
        self.needed = True


def _labels_of(obj: Mapping[str, Any] | None) -> Mapping[str, str] | None:
    if obj is None:
        return None
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels if isinstance(labels, Mapping) else {}


def _is_empty_selector(selector: Any) -> bool:
    return not selector or not (selector.get("matchLabels") or selector.get("matchExpressions"))


def _selector_matches(selector: Any, labels: Mapping[str, str]) -> bool:
    try:
        return from_label_selector(selector).matches(labels)
    except ApiError:
        raise
    except Exception as e:
        raise _internal(str(e)) from e


def _is_namespace_resource(r: ResourceType) -> bool:
    return r.group == "" and r.version == "v1" and r.plural == "namespaces"


def _namespace_matches(spec: Mapping[str, Any], attrs: Attributes) -> bool:
    r = attrs.resource
    if not attrs.namespace and r.plural != "namespaces":
        return True  # cluster-scoped objects are never exempted by a namespace selector
    selector = spec.get("namespaceSelector")
    if _is_empty_selector(selector):
        return True
    labels = attrs.namespace_labels
    if labels is None and r.plural == "namespaces":
        creating = attrs.operation in ("CREATE", "UPDATE") and not attrs.subresource
        labels = _labels_of(attrs.obj if creating else attrs.old_obj)
    if labels is None:
        # The real server looks the namespace up and answers its 404 when it is missing.
        raise not_found("namespaces", attrs.namespace or attrs.name)
    return _selector_matches(selector, labels)


def _object_matches(spec: Mapping[str, Any], attrs: Attributes) -> bool:
    selector = spec.get("objectSelector")
    if _is_empty_selector(selector):
        return True
    return any(
        labels is not None and _selector_matches(selector, labels)
        for labels in (_labels_of(attrs.obj), _labels_of(attrs.old_obj))
    )


def _listed(items: Any, value: str) -> bool:
    return any(item in ("*", value) for item in items or ())


def rule_matches(rule: Mapping[str, Any], attrs: Attributes) -> bool:
    """Whether one ``RuleWithOperations`` covers the request (``rules.Matcher``)."""
    r = attrs.resource
    scope = rule.get("scope") or "*"
    if scope == "Namespaced" and (_is_namespace_resource(r) or not attrs.namespace):
        return False
    if scope == "Cluster" and not (_is_namespace_resource(r) or not attrs.namespace):
        return False
    if scope not in ("*", "Namespaced", "Cluster"):
        return False
    if not (
        _listed(rule.get("operations"), attrs.operation)
        and _listed(rule.get("apiGroups"), r.group)
        and _listed(rule.get("apiVersions"), r.version)
    ):
        return False
    for entry in rule.get("resources") or ():
        res, _, sub = str(entry).partition("/")
        if res in ("*", r.plural) and sub in ("*", attrs.subresource):
            return True
    return False


def _request_kind(attrs: Attributes) -> dict[str, str]:
    r = attrs.resource
    obj = attrs.obj
    # Subresources such as scale or eviction carry their own kind (autoscaling/v1 Scale).
    if attrs.subresource and obj and obj.get("kind") and obj.get("apiVersion"):
        group, _, version = str(obj["apiVersion"]).rpartition("/")
        return {"group": group, "version": version, "kind": str(obj["kind"])}
    return {"group": r.group, "version": r.version, "kind": r.kind}


def admission_request(attrs: Attributes, uid: str) -> dict[str, Any]:
    """The ``AdmissionRequest`` sent for ``attrs``."""
    r = attrs.resource
    kind = _request_kind(attrs)
    resource = {"group": r.group, "version": r.version, "resource": r.plural}
    request: dict[str, Any] = {
        "uid": uid,
        "kind": kind,
        "resource": resource,
        "requestKind": dict(kind),
        "requestResource": dict(resource),
        "name": attrs.name,
        "namespace": attrs.namespace,
        "operation": attrs.operation,
        "userInfo": attrs.user_info,
        "object": attrs.obj,
        "oldObject": attrs.old_obj,
        "dryRun": attrs.dry_run,
        "options": attrs.options,
    }
    if attrs.subresource:
        request["subResource"] = attrs.subresource
        request["requestSubResource"] = attrs.subresource
    return request


def _denial(webhook: str, status: Any) -> ApiError:
    """``ToStatusErr``: the webhook's own status, message prefixed with who denied."""
    status = status if isinstance(status, Mapping) else {}
    code = status.get("code")
    code = code if isinstance(code, int) and code >= 400 else 400
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or "")
    denied_by = f"admission webhook {go_quote(webhook)} denied the request"
    if message:
        text = f"{denied_by}: {message}"
    elif reason:
        text = f"{denied_by}: {reason}"
    else:
        text = f"{denied_by} without explanation"
    details = status.get("details")
    return ApiError(code, reason, text, dict(details) if isinstance(details, Mapping) else None)


def _verify_response(review: Any, uid: str, mutating: bool) -> Mapping[str, Any]:
    """``VerifyAdmissionResponse``; raises ValueError with the real server's wording."""
    response = review.get("response") if isinstance(review, Mapping) else None
    if not isinstance(response, Mapping):
        raise ValueError("webhook response was absent")
    if response.get("uid") != uid:
        raise ValueError(
            f"expected response.uid={go_quote(uid)}, got {go_quote(str(response.get('uid', '')))}"
        )
    api_version, kind = str(review.get("apiVersion", "")), str(review.get("kind", ""))
    if (api_version, kind) != (_REVIEW_API_VERSION, "AdmissionReview"):
        group, _, version = api_version.rpartition("/")
        raise ValueError(
            f"expected webhook response of {_REVIEW_API_VERSION}, Kind=AdmissionReview, "
            f"got {group}/{version}, Kind={kind}"
        )
    patch, patch_type = response.get("patch"), response.get("patchType")
    if mutating:
        if patch and patch_type is None:
            raise ValueError("webhook returned response.patch but not response.patchType")
        if not patch and patch_type is not None:
            raise ValueError("webhook returned response.patchType but not response.patch")
        if patch_type is not None and not patch_type:
            raise ValueError('webhook returned invalid response.patchType of ""')
    else:
        if patch:
            raise ValueError("validating webhook may not return response.patch")
        if patch_type is not None:
            raise ValueError("validating webhook may not return response.patchType")
    return response


def _warnings(response: Mapping[str, Any]) -> list[str]:
    return [str(w) for w in response.get("warnings") or ()]


def _describe_connection_error(e: aiohttp.ClientError, tls_host: str) -> str:
    if isinstance(e, aiohttp.ClientConnectorCertificateError):
        cert_error = e.certificate_error
        code = getattr(cert_error, "verify_code", None)
        if code in (62, 64):  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
            return (
                f"tls: failed to verify certificate: x509: certificate is not valid for {tls_host}"
            )
        detail = _X509_MESSAGES.get(code or 0) or getattr(cert_error, "verify_message", "")
        return f"tls: failed to verify certificate: {detail or cert_error}"
    if isinstance(e, aiohttp.ClientSSLError):
        return f"remote error: tls: {e.os_error}"
    if isinstance(e, aiohttp.ClientConnectorError):
        address = f"{e.host}:{e.port}"
        os_error = e.os_error
        if isinstance(os_error, ConnectionRefusedError):
            return f"dial tcp {address}: connect: connection refused"
        if isinstance(os_error, socket.gaierror):
            return f"dial tcp: lookup {e.host}: no such host"
        return f"dial tcp {address}: {os_error.strerror or os_error}"
    return str(e) or type(e).__name__


def _describe_http_error(status: int, body: bytes) -> str:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, Mapping) and doc.get("kind") == "Status" and doc.get("message"):
        return str(doc["message"])
    if status in _HTTP_MESSAGES:
        return _HTTP_MESSAGES[status]
    text = body.decode(errors="replace").strip()
    return f"an error on the server ({go_quote(text)}) has prevented the request from succeeding"


@dataclass(frozen=True)
class _Target:
    url: str  # as the real server names it (with the service's DNS name for services)
    connect_url: str  # where to connect: differs from url for resolved services
    server_hostname: str | None  # name TLS verifies, for resolved services


class Dispatcher:
    """Calls the admission webhooks configured in the cluster for each request."""

    def __init__(
        self,
        configurations: Callable[[str], Sequence[Mapping[str, Any]]],
        service_resolver: ServiceResolver | None = None,
    ) -> None:
        self._configurations = configurations
        self._resolve_service = service_resolver or _no_service_resolver
        self._session: aiohttp.ClientSession | None = None
        self._ssl: dict[str, ssl.SSLContext] = {}
        self._cel: dict[str, Any] = {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def mutate(self, attrs: Attributes) -> tuple[dict[str, Any] | None, list[str]]:
        """Run the mutating webhooks; returns the (possibly new) object and warnings."""
        if self._exempt(attrs):
            return attrs.obj, []
        hooks = self._hooks("mutating")
        warnings: list[str] = []
        state = _Reinvocation()
        attrs = await self._mutating_round(attrs, hooks, state, warnings, reinvoking=False)
        if state.needed:
            attrs = await self._mutating_round(attrs, hooks, state, warnings, reinvoking=True)
        return attrs.obj, warnings

    async def validate(self, attrs: Attributes) -> list[str]:
        """Run the validating webhooks in parallel; returns warnings or raises the denial."""
        if self._exempt(attrs):
            return []
        hooks = [h for h in self._hooks("validating") if self._should_call(h, attrs)]
        results = await asyncio.gather(*(self._validate_one(h, attrs) for h in hooks))
        warnings = [w for ws, _ in results for w in ws]
        for _, error in results:
            if error is not None:
                raise error
        return warnings

    # -- selection ---------------------------------------------------------------------

    @staticmethod
    def _exempt(attrs: Attributes) -> bool:
        r = attrs.resource
        return r.group == "admissionregistration.k8s.io" and r.kind in _EXEMPT_KINDS

    def _hooks(self, which: str) -> list[_Hook]:
        configs = sorted(self._configurations(which), key=lambda c: c["metadata"]["name"])
        return [
            _Hook(f"{c['metadata']['name']}/{w.get('name', '')}/{i}", w)
            for c in configs
            for i, w in enumerate(c.get("webhooks") or ())
        ]

    def _should_call(self, hook: _Hook, attrs: Attributes) -> bool:
        """``ShouldCallHook``: selectors, rules, then match conditions."""
        spec = hook.spec
        ns_error: ApiError | None = None
        try:
            if not _namespace_matches(spec, attrs):
                return False
        except ApiError as e:
            ns_error = e
        obj_error: ApiError | None = None
        try:
            if not _object_matches(spec, attrs):
                return False
        except ApiError as e:
            obj_error = e
        if not any(rule_matches(rule, attrs) for rule in spec.get("rules") or ()):
            return False  # errors only count for webhooks that apply to the request
        if ns_error is not None:
            raise ns_error
        if obj_error is not None:
            raise obj_error
        return self._match_conditions(hook, attrs)

    def _match_conditions(self, hook: _Hook, attrs: Attributes) -> bool:
        conditions = hook.spec.get("matchConditions") or ()
        if not conditions:
            return True
        activation: dict[str, Any] | None = None
        errors: list[str] = []
        for condition in conditions:
            expression = str(condition.get("expression", ""))
            try:
                if _CEL_ENV is None:
                    raise RuntimeError("matchConditions need cel-python, which is not installed")
                if activation is None:
                    request = admission_request(attrs, "")
                    activation = {
                        "object": json_to_cel(attrs.obj),
                        "oldObject": json_to_cel(attrs.old_obj),
                        "request": json_to_cel(
                            {k: v for k, v in request.items() if k not in ("object", "oldObject")}
                        ),
                    }
                result = self._cel_program(expression).evaluate(activation)
                if isinstance(result, Exception):
                    raise result
                if not isinstance(result, BoolType):
                    raise TypeError(f"expected bool, got {type(result).__name__}")
            except Exception as e:
                detail = e.args[0] if e.args else e
                errors.append(f"expression '{expression}' resulted in error: {detail}")
                continue
            if not result:
                return False  # any false condition skips the webhook, errors or not
        if not errors:
            return True
        if hook.ignore_failures:
            return False
        detail = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
        r = attrs.resource
        target = f"{r.group_resource} {go_quote(attrs.name)}" if attrs.name else r.group_resource
        raise forbidden(f"{target} is forbidden: {detail}", r.plural, attrs.name, r.group)

    def _cel_program(self, expression: str) -> Any:
        program = self._cel.get(expression)
        if program is None:
            program = _CEL_ENV.program(_CEL_ENV.compile(expression))
            self._cel[expression] = program
        return program

    # -- dispatch ----------------------------------------------------------------------

    async def _mutating_round(
        self,
        attrs: Attributes,
        hooks: list[_Hook],
        state: _Reinvocation,
        warnings: list[str],
        reinvoking: bool,
    ) -> Attributes:
        for hook in hooks:
            if not self._should_call(hook, attrs):
                continue
            # A webhook skipped in the first round is never called for the first time here.
            if reinvoking and hook.uid not in state.to_reinvoke:
                continue
            error: _CallError | None = None
            changed = False
            try:
                response = await self._call(hook, attrs, mutating=True)
                warnings.extend(_warnings(response))
                if response.get("allowed") is not True:
                    raise _denial(hook.name, response.get("status"))
                patched = self._apply_patch(hook, attrs, response)
                if patched is not None and patched != attrs.obj:
                    attrs = replace(attrs, obj=patched)
                    changed = True
            except _CallError as e:
                error = e
            if changed:
                state.object_changed()
            if hook.spec.get("reinvocationPolicy") == "IfNeeded":
                state.previously_invoked.add(hook.uid)
            if error is not None and not hook.ignore_failures:
                raise error.to_api_error()
        return attrs

    @staticmethod
    def _apply_patch(
        hook: _Hook, attrs: Attributes, response: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        encoded = response.get("patch")
        if not encoded:
            return None
        try:
            ops = orjson.loads(base64.b64decode(str(encoded), validate=True))
            if not isinstance(ops, list):
                raise ValueError("patch is not a JSON array")
        except (binascii.Error, ValueError) as e:
            raise _CallError(
                hook.name, f"received undecodable patch in webhook response: {e}"
            ) from e
        if not ops:
            return None
        if attrs.obj is None:
            raise _internal(
                f"admission webhook {go_quote(hook.name)} attempted to modify the object, "
                "which is not supported for this operation"
            )
        patch_type = str(response.get("patchType"))
        if patch_type != "JSONPatch":
            raise _CallError(hook.name, f"unsupported patch type {go_quote(patch_type)}")
        try:
            patched = apply_json_patch(attrs.obj, ops)  # copies; attrs.obj stays intact
        except ApiError as e:
            # The real server reports the patch library's own error, which our JSON Patch
            # module keeps as the cause of its generic 422.
            raise _internal(str(e.__cause__ or e.message)) from e
        if not isinstance(patched, dict):
            raise _internal(
                f"admission webhook {go_quote(hook.name)} patched the object into a non-object"
            )
        return patched

    async def _validate_one(
        self, hook: _Hook, attrs: Attributes
    ) -> tuple[list[str], ApiError | None]:
        try:
            response = await self._call(hook, attrs, mutating=False)
        except _CallError as e:
            return [], None if hook.ignore_failures else e.to_api_error()
        except ApiError as e:
            return [], e
        if response.get("allowed") is True:
            return _warnings(response), None
        return _warnings(response), _denial(hook.name, response.get("status"))

    def _target(self, hook: _Hook, config: Mapping[str, Any], query: str) -> _Target:
        if config.get("url"):
            url = str(config["url"]) + query
            return _Target(url, url, None)
        service = config.get("service")
        if not service:
            raise _CallError(
                hook.name, "could not get REST client: webhook clientConfig was missing"
            )
        namespace, name = str(service.get("namespace", "")), str(service.get("name", ""))
        port = int(service.get("port") or 443)
        path = str(service.get("path") or "")
        host = f"{name}.{namespace}.svc"
        url = f"https://{host}:{port}{path}{query}"
        try:
            base = self._resolve_service(namespace, name, port)
            if base is None:
                raise LookupError(f"no endpoints available for service {go_quote(name)}")
        except Exception as e:
            raise _CallError(hook.name, f"failed to call webhook: Post {go_quote(url)}: {e}") from e
        return _Target(url, base.rstrip("/") + path + query, host)

    def _ssl_context(self, hook: _Hook, ca_bundle: str) -> ssl.SSLContext:
        ctx = self._ssl.get(ca_bundle)
        if ctx is None:
            try:
                pem = base64.b64decode(ca_bundle, validate=True) if ca_bundle else None
                ctx = ssl_client_context(pem)
            except (binascii.Error, ssl.SSLError, ValueError) as e:
                raise _CallError(
                    hook.name,
                    "could not get REST client: unable to load root certificates: "
                    f"unable to parse bytes as PEM block ({e})",
                ) from e
            self._ssl[ca_bundle] = ctx
        return ctx

    async def _call(self, hook: _Hook, attrs: Attributes, mutating: bool) -> Mapping[str, Any]:
        """POST one AdmissionReview; returns the verified response or raises."""
        spec = hook.spec
        if attrs.dry_run:
            side_effects = spec.get("sideEffects")
            if side_effects is None:
                raise _CallError(hook.name, "Webhook SideEffects is nil")
            if side_effects not in ("None", "NoneOnDryRun"):
                raise bad_request(
                    f"admission webhook {go_quote(hook.name)} does not support dry run"
                )
        if "v1" not in (spec.get("admissionReviewVersions") or ["v1"]):
            raise _CallError(
                hook.name,
                "could not create admission objects: webhook does not accept known "
                "AdmissionReview versions (v1)",
            )
        timeout = max(1, min(int(spec.get("timeoutSeconds") or _DEFAULT_TIMEOUT), _MAX_TIMEOUT))
        # The real client appends the timeout; webhook URLs may not carry a query of their own.
        query = f"?timeout={timeout}s"
        config = hook.spec.get("clientConfig") or {}
        ctx = self._ssl_context(hook, str(config.get("caBundle") or ""))
        target = self._target(hook, config, query)
        uid = str(uuid.uuid4())
        body = orjson.dumps(
            {
                "apiVersion": _REVIEW_API_VERSION,
                "kind": "AdmissionReview",
                "request": admission_request(attrs, uid),
            }
        )
        if self._session is None:
            self._session = aiohttp.ClientSession()
        post_error = f"failed to call webhook: Post {go_quote(target.url)}"
        try:
            async with (
                asyncio.timeout(timeout),
                self._session.post(
                    target.connect_url,
                    data=body,
                    headers={"Content-Type": "application/json", "Accept": "application/json"},
                    ssl=ctx,
                    server_hostname=target.server_hostname,
                ) as resp,
            ):
                payload = await resp.read()
                status = resp.status
        except TimeoutError as e:
            raise _CallError(hook.name, f"{post_error}: context deadline exceeded") from e
        except aiohttp.ClientError as e:
            tls_host = target.server_hostname or str(URL(target.url).host)
            detail = _describe_connection_error(e, tls_host)
            raise _CallError(hook.name, f"{post_error}: {detail}") from e
        if not 200 <= status < 300:
            detail = _describe_http_error(status, payload)
            raise _CallError(hook.name, f"failed to call webhook: {detail}")
        try:
            review = orjson.loads(payload)
        except orjson.JSONDecodeError as e:
            raise _CallError(
                hook.name,
                f"failed to call webhook: couldn't get version/kind; json parse error: {e}",
            ) from e
        try:
            return _verify_response(review, uid, mutating)
        except ValueError as e:
            raise _CallError(hook.name, f"received invalid webhook response: {e}") from e
