"""An unmodified kopf operator against the embedded server.

The operator runs as ``kopf run --standalone`` would, but in-process: ``kopf.operator()`` on its
own event loop in a background thread (kopf treats every task created after its start as its
own and cancels it on exit, so it does not share the test's loop), with handlers in a private
registry, logging in from the kubeconfig, and stopped through its stop flag.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

import kopf
import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from pilothouse.testing.apiserver import ServerThread
from pilothouse.testing.eventually import eventually, eventually_async
from pilothouse.testing.http import RawClient

GROUP = "kopf.example.com"
PLURAL = "kopfexamples"
CRD_NAME = f"{PLURAL}.{GROUP}"
FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": CRD_NAME},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {
            "plural": PLURAL,
            "singular": "kopfexample",
            "kind": "KopfExample",
            "shortNames": ["kex"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "greeting": {"type": "string"},
                                    "size": {"type": "integer"},
                                },
                            },
                            # kopf keeps its progress and the handlers' results in status.
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    }
                },
            }
        ],
    },
}


def _path(namespace: str, name: str = "") -> str:
    base = f"/apis/{GROUP}/v1/namespaces/{namespace}/{PLURAL}"
    return f"{base}/{name}" if name else base


def _install_crd(raw: RawClient) -> None:
    resp = raw.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)
    assert resp.status == 201, resp.body

    def established() -> bool:
        crd = raw.request(
            "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}"
        ).json()
        conditions = (crd.get("status") or {}).get("conditions") or []
        ok = any(c["type"] == "Established" and c["status"] == "True" for c in conditions)
        return ok and raw.request("GET", _path("default")).status == 200

    eventually(established, message="CRD established and served")


class Recorder:
    """What the handlers saw, shared between the operator's threads and the test."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []
        self.deleting: dict[str, dict[str, Any]] = {}

    def add(self, what: str, name: str) -> None:
        with self.lock:
            self.calls.append((what, name))

    def seen(self, what: str) -> list[str]:
        with self.lock:
            return [n for w, n in self.calls if w == what]


def _registry(core: client.CoreV1Api, custom: client.CustomObjectsApi, rec: Recorder) -> Any:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(id="kubeconfig", registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.create(GROUP, "v1", PLURAL, id="created", registry=registry)
    def created(
        spec: kopf.Spec, name: str, namespace: str, body: kopf.Body, patch: kopf.Patch, **_: Any
    ) -> dict[str, Any]:
        child: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{name}-child"},
            "data": {"greeting": str(spec.get("greeting", ""))},
        }
        kopf.adopt(child, owner=body)  # ownerReference, namespace and the owner's labels
        core.create_namespaced_config_map(namespace, child)
        kopf.info(body, reason="ChildCreated", message=f"created ConfigMap {name}-child")
        patch.status["phase"] = "Created"
        rec.add("create", name)
        return {"child": child["metadata"]["name"]}

    @kopf.on.update(GROUP, "v1", PLURAL, id="updated", registry=registry)
    def updated(
        spec: kopf.Spec, name: str, namespace: str, diff: kopf.Diff, patch: kopf.Patch, **_: Any
    ) -> dict[str, Any]:
        core.patch_namespaced_config_map(
            f"{name}-child", namespace, {"data": {"greeting": str(spec.get("greeting", ""))}}
        )
        patch.status["phase"] = "Updated"
        rec.add("update", name)
        return {"changed": sorted(".".join(d[1]) for d in diff)}

    @kopf.on.delete(GROUP, "v1", PLURAL, id="deleted", registry=registry)
    def deleted(name: str, namespace: str, **_: Any) -> None:
        # The object is still there while the handler runs: held by kopf's finalizer.
        current = custom.get_namespaced_custom_object(GROUP, "v1", namespace, PLURAL, name)
        with rec.lock:
            rec.deleting[name] = current
        rec.add("delete", name)

    return registry


async def _no_open_sockets() -> bool:
    """True once the running loop watches no socket but its own self-pipe."""
    selector = getattr(asyncio.get_running_loop(), "_selector")  # noqa: B009 -- private, test only
    return len(selector.get_map()) <= 1


class OperatorThread:
    """``kopf.operator()`` in a thread of its own, started and stopped through kopf's flags."""

    def __init__(self, registry: Any, settings: kopf.OperatorSettings) -> None:
        self.registry = registry
        self.settings = settings
        self.ready = threading.Event()
        self.stop_flag = threading.Event()
        self.error: BaseException | None = None
        self.leftover_tasks: list[str] = []
        self.thread = threading.Thread(target=self._run, name="kopf-operator", daemon=True)

    async def _main(self) -> None:
        await kopf.operator(
            registry=self.registry,
            settings=self.settings,
            standalone=True,
            clusterwide=True,
            ready_flag=self.ready,
            stop_flag=self.stop_flag,
        )
        # kopf returns while the TLS close_notify exchange of its last watch connection may
        # still be in flight; asyncio.run would close the loop under it and leak the socket,
        # reported later as a ResourceWarning in whichever test triggers the next GC.
        await eventually_async(_no_open_sockets, timeout=10, message="kopf's sockets closed")
        # A clean stop leaves nothing running behind kopf (asyncio.run would hide it).
        me = asyncio.current_task()
        self.leftover_tasks = [t.get_name() for t in asyncio.all_tasks() if t is not me]

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:
            self.error = e

    def start(self) -> None:
        self.thread.start()
        assert self.ready.wait(30) or self.error is not None, "kopf did not get ready"
        if self.error is not None:
            raise AssertionError("kopf failed to start") from self.error

    def stop(self) -> None:
        self.stop_flag.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), "kopf did not stop"
        self.settings.execution.executor.shutdown(wait=True)
        if self.error is not None:
            raise AssertionError("kopf exited with an error") from self.error
        assert self.leftover_tasks == [], "kopf left tasks running"


@pytest.fixture
def kube(cluster: ServerThread) -> Iterator[client.ApiClient]:
    assert cluster.kubeconfig_path is not None
    with config.new_client_from_config(str(cluster.kubeconfig_path)) as api_client:
        yield api_client


def test_operator_lifecycle(
    cluster: ServerThread,
    kube: client.ApiClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = RawClient(cluster)
    _install_crd(raw)
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig_path))
    core, custom = client.CoreV1Api(kube), client.CustomObjectsApi(kube)
    rec = Recorder()
    settings = kopf.OperatorSettings()
    settings.peering.standalone = True  # as `kopf run --standalone`: no peering objects
    settings.watching.server_timeout = 30
    settings.networking.error_backoffs = 0.1
    settings.persistence.finalizer = FINALIZER
    operator = OperatorThread(_registry(core, custom, rec), settings)
    caplog.set_level(logging.INFO, logger="kopf")
    operator.start()
    try:
        _exercise(raw, core, custom, rec)
    finally:
        operator.stop()
    # kopf ran clean: no handler failures, no API errors, no retries.
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    benign = ("OS signals are ignored",)
    assert [r.getMessage() for r in problems if not r.getMessage().startswith(benign)] == []


def _exercise(
    raw: RawClient, core: client.CoreV1Api, custom: client.CustomObjectsApi, rec: Recorder
) -> None:
    body = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "KopfExample",
        "metadata": {"name": "ex", "namespace": "default", "labels": {"team": "blue"}},
        "spec": {"greeting": "hello", "size": 1},
    }
    resp = raw.request("POST", _path("default"), body)
    assert resp.status == 201, resp.body
    uid = resp.json()["metadata"]["uid"]

    # Create: the handler ran once, wrote status, added the finalizer and made the child.
    def status_written() -> dict[str, Any]:
        obj = custom.get_namespaced_custom_object(GROUP, "v1", "default", PLURAL, "ex")
        status = obj.get("status") or {}
        assert status.get("created") == {"child": "ex-child"}, status
        return obj

    obj = eventually(status_written, timeout=30, message="create handler result in status")
    assert obj["status"]["phase"] == "Created"
    assert FINALIZER in obj["metadata"]["finalizers"]
    assert "kopf.zalando.org/last-handled-configuration" in obj["metadata"]["annotations"]
    assert rec.seen("create") == ["ex"]
    child = core.read_namespaced_config_map("ex-child", "default")
    assert child.data == {"greeting": "hello"}
    assert child.metadata.labels == {"team": "blue"}
    [ref] = child.metadata.owner_references
    assert (ref.api_version, ref.kind, ref.name, ref.uid) == (
        f"{GROUP}/v1",
        "KopfExample",
        "ex",
        uid,
    )
    assert ref.controller and ref.block_owner_deletion

    # kopf.info() from the handler is posted in the background as an Event about the object.
    def event_posted() -> list[Any]:
        events = core.list_namespaced_event("default", field_selector="involvedObject.name=ex")
        return [e for e in events.items if e.reason == "ChildCreated"]

    [event] = eventually(event_posted, message="kopf posted an Event")
    assert event.message == "created ConfigMap ex-child" and event.type == "Normal"
    assert (event.involved_object.kind, event.involved_object.uid) == ("KopfExample", uid)
    assert event.source.component == "kopf"

    # Update: a spec change triggers the update handler (and never create again).
    custom.patch_namespaced_custom_object(
        GROUP, "v1", "default", PLURAL, "ex", {"spec": {"greeting": "bonjour"}}
    )

    def updated() -> dict[str, Any]:
        obj = custom.get_namespaced_custom_object(GROUP, "v1", "default", PLURAL, "ex")
        assert (obj.get("status") or {}).get("updated") == {"changed": ["spec.greeting"]}, obj
        return obj

    obj = eventually(updated, timeout=30, message="update handler result in status")
    assert obj["status"]["phase"] == "Updated"
    assert core.read_namespaced_config_map("ex-child", "default").data == {"greeting": "bonjour"}
    assert rec.seen("create") == ["ex"] and rec.seen("update") == ["ex"]

    # A status-only change is not an update of the object's essence.
    custom.patch_namespaced_custom_object_status(
        GROUP, "v1", "default", PLURAL, "ex", {"status": {"note": "external"}}
    )

    # Delete: the finalizer holds the object for the delete handler, then kopf releases it.
    custom.delete_namespaced_custom_object(GROUP, "v1", "default", PLURAL, "ex")
    eventually(lambda: rec.seen("delete") == ["ex"], timeout=30, message="delete handler ran")
    held = rec.deleting["ex"]
    assert held["metadata"]["deletionTimestamp"] and FINALIZER in held["metadata"]["finalizers"]

    def gone() -> bool:
        return raw.request("GET", _path("default", "ex")).status == 404

    eventually(gone, timeout=30, message="object deleted once kopf removed its finalizer")

    def child_collected() -> bool:
        try:
            core.read_namespaced_config_map("ex-child", "default")
        except ApiException as e:
            return e.status == 404
        return False

    eventually(child_collected, timeout=30, message="child garbage-collected")
    assert rec.seen("create") == ["ex"] and rec.seen("update") == ["ex"]
