"""Behaviour of the Session admission webhooks, served by a manager and called by the
embedded API server: quota denials on create, resume and resource raises (HTTP 403 with
the limit, the usage and the request), allowed requests within quota, the template's and
the namespace's defaults stored on create, and the name, user and image checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pilothouse.api import kinds
from pilothouse.client import client as client_mod
from pilothouse.client import errors
from pilothouse.operators.sessions import admission, defaults
from pilothouse.runtime import manager as manager_mod
from pilothouse.runtime import webhookbuilder
from pilothouse.testing import eventually, fixtures

NS = "default"
Make = Callable[..., fixtures.ManagerHandle]
SESSION = admission.SESSION
API_VERSION = SESSION.api_version
HOOK = f'admission webhook "{webhookbuilder.webhook_name("v", SESSION)}"'


def session(name: str, user: str = "alice", namespace: str = NS, **spec: Any) -> dict[str, Any]:
    spec.setdefault("template", "jupyter")
    return {
        "apiVersion": API_VERSION,
        "kind": "Session",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"user": user, **{k: v for k, v in spec.items() if v is not None}},
    }


def template(namespace: str = NS) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "SessionTemplate",
        "metadata": {"name": "jupyter", "namespace": namespace},
        "spec": {
            "image": "jupyter:1",
            "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}},
        },
    }


def quota(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "SessionQuota",
        "metadata": {"name": "team", "namespace": NS},
        "spec": spec,
    }


async def start(make_manager: Make) -> manager_mod.Manager:
    h = make_manager(admission.setup_webhooks, webhook_port=0, webhook_register=True)
    h.start()
    await h.wait_started()

    async def registered() -> bool:
        return bool(h.manager.webhooks_registered) and h.manager.cache.synced

    await eventually.eventually_async(registered, message="session webhooks registered")
    return h.manager


async def cached(
    mgr: manager_mod.Manager, *names: str, namespace: str = NS, kind: Any = SESSION
) -> None:
    """Wait until the webhook's cache has seen these objects as they are now stored."""

    async def seen() -> bool:
        live = {
            o["metadata"]["name"]: o["metadata"]["resourceVersion"]
            for o in (await mgr.client.list(kind, namespace)).items
        }
        have = {
            o["metadata"]["name"]: o["metadata"]["resourceVersion"]
            for o in await mgr.cache.list(kind, namespace)
        }
        return all(n in live and have.get(n) == live[n] for n in names)

    await eventually.eventually_async(seen, message=f"cache has {kind.kind} {names}")


async def denied(
    call: Any, code: int = 403
) -> str:  # the webhook's message, after the API server's prefix
    with pytest.raises(errors.ApiError) as e:
        await call
    assert e.value.code == code, e.value
    prefix = f"{HOOK} denied the request: "
    assert e.value.message.startswith(prefix), e.value.message
    return e.value.message[len(prefix) :]


async def test_quota_denies_creates_resumes_and_raises_over_the_limit(
    sessions_client: client_mod.Client, make_manager: Make
) -> None:
    client = sessions_client
    await client.create(template())
    await client.create(quota(perUser={"sessions": 2, "cpu": "2"}, perNamespace={"sessions": 4}))
    mgr = await start(make_manager)

    await client.create(session("s1"))
    await client.create(session("s2"))
    await cached(mgr, "s1", "s2")
    message = await denied(client.create(session("s3")))
    assert message == (
        'user "alice" would use 3 sessions, over the limit of 2 set by SessionQuota "team" '
        "(in use: 2, requested: 1)"
    )
    with pytest.raises(errors.NotFound):
        await client.get(SESSION, "s3", NS)

    # Per-user limits are per user: bob still fits.
    await client.create(session("b1", user="bob"))

    # Hibernating frees a session; a new one then fits, and resuming the first does not.
    await client.patch(SESSION, "s2", {"spec": {"state": "hibernated"}}, namespace=NS)
    await cached(mgr, "s2")
    await client.create(session("s3"))
    await cached(mgr, "s3")
    message = await denied(
        client.patch(SESSION, "s2", {"spec": {"state": "running"}}, namespace=NS)
    )
    assert message == (
        'user "alice" would use 3 sessions, over the limit of 2 set by SessionQuota "team" '
        "(in use: 2, requested: 1)"
    )
    stored = await client.get(SESSION, "s2", NS)
    assert stored["spec"]["state"] == "hibernated"

    # Raising a running session's CPU over the user's limit: s1 and s3 use 500m each.
    raise_cpu = {"spec": {"resources": {"requests": {"cpu": "2", "memory": "512Mi"}}}}
    message = await denied(client.patch(SESSION, "s1", raise_cpu, namespace=NS))
    assert message == (
        'user "alice" would use 2500m CPU, over the limit of 2 set by SessionQuota "team" '
        "(in use: 1, requested: 1500m)"
    )
    # Within the limit it is allowed; an update that raises nothing is never checked.
    within = {"spec": {"resources": {"requests": {"cpu": "1500m", "memory": "512Mi"}}}}
    await client.patch(SESSION, "s1", within, namespace=NS)
    await client.patch(SESSION, "s2", {"metadata": {"labels": {"x": "y"}}}, namespace=NS)

    # The namespace-wide limit counts every user: four running sessions are the limit.
    await client.create(session("b2", user="bob"))
    await cached(mgr, "s1", "b1", "b2")
    message = await denied(client.create(session("c1", user="carol")))
    assert message == (
        'namespace "default" would use 5 sessions, over the limit of 4 set by SessionQuota '
        '"team" (in use: 4, requested: 1)'
    )


async def test_sessions_count_their_templates_resources_as_the_template_changes(
    sessions_client: client_mod.Client, make_manager: Make
) -> None:
    client = sessions_client
    await client.create(quota(perUser={"cpu": "1"}))
    mgr = await start(make_manager)
    # Created before its template exists: no resources are defaulted, so it counts what
    # its template requests, whenever that changes.
    early = await client.create(session("early", template="late"))
    assert "resources" not in early["spec"]
    await cached(mgr, "early")
    await client.create(session("x", image="i", resources={"requests": {"cpu": "1"}}))
    late = template()
    late["metadata"]["name"] = "late"
    await client.create(late)
    await cached(mgr, "x")
    await cached(mgr, "late", kind=admission.TEMPLATE)
    small = {"requests": {"cpu": "600m"}}
    message = await denied(client.create(session("y", image="i", resources=small)))
    assert message == (
        'user "alice" would use 2100m CPU, over the limit of 1 set by SessionQuota "team" '
        "(in use: 1500m, requested: 600m)"
    )
    patch = {"spec": {"resources": {"requests": {"cpu": "100m"}}}}
    await client.patch(admission.TEMPLATE, "late", patch, namespace=NS)
    await cached(mgr, "late", kind=admission.TEMPLATE)
    message = await denied(client.create(session("y", image="i", resources=small)))
    assert "(in use: 1100m, requested: 600m)" in message


async def test_template_and_namespace_defaults_are_stored(
    sessions_client: client_mod.Client, make_manager: Make
) -> None:
    client = sessions_client
    annotated = "annotated"
    await client.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": annotated,
                "annotations": {
                    defaults.ANNOTATION_DEFAULT_TEMPLATE: "jupyter",
                    defaults.ANNOTATION_DEFAULT_MAX_SESSION_DURATION: "8h",
                },
            },
        }
    )
    await client.create(template())
    await client.create(template(annotated))
    mgr = await start(make_manager)

    async def namespace_cached() -> bool:
        return await mgr.cache.try_get(kinds.NAMESPACE, annotated) is not None

    await eventually.eventually_async(namespace_cached)

    created = await client.create(session("plain"))
    assert created["spec"]["resources"] == {"requests": {"cpu": "500m", "memory": "512Mi"}}
    assert created["spec"]["state"] == "running"
    assert "maxSessionDuration" not in created["spec"]
    own = await client.create(session("own", resources={"requests": {"cpu": "1"}}, image="mine:2"))
    assert own["spec"]["resources"] == {"requests": {"cpu": "1"}}
    assert own["spec"]["image"] == "mine:2"

    defaulted = await client.create(session("bare", namespace=annotated, template=None))
    assert defaulted["spec"]["template"] == "jupyter"
    assert defaulted["spec"]["maxSessionDuration"] == "8h"
    assert defaulted["spec"]["resources"] == {"requests": {"cpu": "500m", "memory": "512Mi"}}


async def test_names_users_and_images_are_checked(
    sessions_client: client_mod.Client, make_manager: Make
) -> None:
    client = sessions_client
    await start(make_manager)
    long_name = "x" * (admission.MAX_NAME_LENGTH + 1)
    message = await denied(client.create(session(long_name, image="i")), code=400)
    assert message == (
        "metadata.name: at most 55 characters, so that the session's Service "
        '"session-<name>" is a valid name (got 56)'
    )
    await client.create(session("x" * admission.MAX_NAME_LENGTH, image="i"))

    message = await denied(client.create(session("noimage", template=None)), code=400)
    assert message.startswith("spec: name a template or an image")

    await client.create(session("mine", image="i"))
    message = await denied(
        client.patch(SESSION, "mine", {"spec": {"user": "mallory"}}, namespace=NS), code=400
    )
    assert message == "spec.user is immutable (was 'alice'); create a new session instead"
