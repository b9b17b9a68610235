"""The :class:`Dispatcher`: runs the mutating and validating webhooks configured in the
cluster for each request, as kube-apiserver's mutating and validating dispatchers do.

Behaviour carried over from kube-apiserver:

* Configurations run sorted by name, webhooks in their listed order. Mutating webhooks run
  one after another; validating webhooks all run in parallel and the first failure (in
  webhook order, where the real server takes whichever finishes first) is reported.
* Failures to call a webhook obey ``failurePolicy``: ``Fail`` (the default) answers 500
  ``Internal error occurred: failed calling webhook "<name>": ...``, ``Ignore`` skips the
  webhook. Denials, dry-run refusals and errors applying a patch are never ignored.
* ``reinvocationPolicy: IfNeeded``: when a webhook changes the object, the IfNeeded webhooks
  that already ran are re-run once, in order, after the first pass.

Design choice: configurations are read through a callback on every request, so webhook
changes take effect at once without a watch.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from pilothouse.api.validation import go_quote
from pilothouse.apiserver.admission.attributes import Attributes, Hook
from pilothouse.apiserver.admission.calls import WebhookClient
from pilothouse.apiserver.admission.errors import CallError, denial, internal
from pilothouse.apiserver.admission.matching import Matcher, is_exempt
from pilothouse.apiserver.admission.review import warnings_of
from pilothouse.apiserver.errors import ApiError
from pilothouse.apiserver.patch.jsonpatch import apply as apply_json_patch
from pilothouse.apiserver.webhookcall import ServiceResolver


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


class Dispatcher:
    """Calls the admission webhooks configured in the cluster for each request."""

    def __init__(
        self,
        configurations: Callable[[str], Sequence[Mapping[str, Any]]],
        service_resolver: ServiceResolver | None = None,
    ) -> None:
        self._configurations = configurations
        self._client = WebhookClient(service_resolver)
        self._matcher = Matcher()

    async def close(self) -> None:
        """Release the HTTP session; idempotent."""
        await self._client.close()

    async def mutate(
        self,
        attrs: Attributes,
        redecode: Callable[[dict[str, Any]], None] | None = None,
    ) -> tuple[dict[str, Any] | None, list[str]]:
        """Run the mutating webhooks; returns the (possibly new) object and warnings.

        ``redecode`` is applied in place to every patched object before the next webhook
        sees it: kube-apiserver decodes each patch result again, which prunes and defaults
        what the webhook added.
        """
        if is_exempt(attrs):
            return attrs.obj, []
        hooks = self._hooks("mutating")
        warnings: list[str] = []
        state = _Reinvocation()
        attrs = await self._mutating_round(
            attrs, hooks, state, warnings, reinvoking=False, redecode=redecode
        )
        if state.needed:
            attrs = await self._mutating_round(
                attrs, hooks, state, warnings, reinvoking=True, redecode=redecode
            )
        return attrs.obj, warnings

    async def validate(self, attrs: Attributes) -> list[str]:
        """Run the validating webhooks in parallel; returns warnings or raises the denial."""
        if is_exempt(attrs):
            return []
        hooks = [h for h in self._hooks("validating") if self._matcher.should_call(h, attrs)]
        results = await asyncio.gather(*(self._validate_one(h, attrs) for h in hooks))
        warnings = [w for ws, _ in results for w in ws]
        for _, error in results:
            if error is not None:
                raise error
        return warnings

    def _hooks(self, which: str) -> list[Hook]:
        configs = sorted(self._configurations(which), key=lambda c: c["metadata"]["name"])
        return [
            Hook(f"{c['metadata']['name']}/{w.get('name', '')}/{i}", w)
            for c in configs
            for i, w in enumerate(c.get("webhooks") or ())
        ]

    async def _mutating_round(
        self,
        attrs: Attributes,
        hooks: list[Hook],
        state: _Reinvocation,
        warnings: list[str],
        reinvoking: bool,
        redecode: Callable[[dict[str, Any]], None] | None = None,
    ) -> Attributes:
        for hook in hooks:
            if not self._matcher.should_call(hook, attrs):
                continue
            # A webhook skipped in the first round is never called for the first time here.
            if reinvoking and hook.uid not in state.to_reinvoke:
                continue
            error: CallError | None = None
            changed = False
            try:
                response = await self._client.call(hook, attrs, mutating=True)
                warnings.extend(warnings_of(response))
                if response.get("allowed") is not True:
                    raise denial(hook.name, response.get("status"))
                patched = self._apply_patch(hook, attrs, response)
                if patched is not None and redecode is not None:
                    redecode(patched)
                if patched is not None and patched != attrs.obj:
                    attrs = replace(attrs, obj=patched)
                    changed = True
            except CallError as e:
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
        hook: Hook, attrs: Attributes, response: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        encoded = response.get("patch")
        if not encoded:
            return None
        try:
            ops = orjson.loads(base64.b64decode(str(encoded), validate=True))
            if not isinstance(ops, list):
                raise ValueError("patch is not a JSON array")
        except (binascii.Error, ValueError) as e:
            raise CallError(
                hook.name, f"received undecodable patch in webhook response: {e}"
            ) from e
        if not ops:
            return None
        if attrs.obj is None:
            raise internal(
                f"admission webhook {go_quote(hook.name)} attempted to modify the object, "
                "which is not supported for this operation"
            )
        patch_type = str(response.get("patchType"))
        if patch_type != "JSONPatch":
            raise CallError(hook.name, f"unsupported patch type {go_quote(patch_type)}")
        try:
            patched = apply_json_patch(attrs.obj, ops)  # copies; attrs.obj stays intact
        except ApiError as e:
            # The real server reports the patch library's own error, which our JSON Patch
            # module keeps as the cause of its generic 422.
            raise internal(str(e.__cause__ or e.message)) from e
        if not isinstance(patched, dict):
            raise internal(
                f"admission webhook {go_quote(hook.name)} patched the object into a non-object"
            )
        return patched

    async def _validate_one(
        self, hook: Hook, attrs: Attributes
    ) -> tuple[list[str], ApiError | None]:
        try:
            response = await self._client.call(hook, attrs, mutating=False)
        except CallError as e:
            return [], None if hook.ignore_failures else e.to_api_error()
        except ApiError as e:
            return [], e
        if response.get("allowed") is True:
            return warnings_of(response), None
        return warnings_of(response), denial(hook.name, response.get("status"))
