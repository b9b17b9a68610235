"""The unmodified official ``kubernetes`` Python client against the embedded server."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from pilothouse.testing.apiserver import ServerThread


@pytest.fixture
def api(cluster: ServerThread) -> Iterator[client.ApiClient]:
    assert cluster.kubeconfig_path is not None
    with config.new_client_from_config(str(cluster.kubeconfig_path)) as api_client:
        yield api_client


def _cm(name: str, **labels: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=labels or None), data={"k": "v"}
    )


def test_crud_and_conflicts(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    created = core.create_namespaced_config_map("default", _cm("a"))
    assert created.metadata.uid and created.metadata.resource_version
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("default", _cm("a"))
    assert exc.value.status == 409 and "AlreadyExists" in exc.value.body
    created.data = {"k": "changed"}
    updated = core.replace_namespaced_config_map("a", "default", created)
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_config_map("a", "default", created)  # stale resourceVersion
    assert exc.value.status == 409 and "the object has been modified" in exc.value.body
    core.delete_namespaced_config_map("a", "default")
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("a", "default")
    assert exc.value.status == 404


def test_list_pagination_and_selectors(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    for i in range(25):
        core.create_namespaced_config_map(
            "default", _cm(f"c{i:02d}", parity="even" if i % 2 == 0 else "odd")
        )
    names: list[str] = []
    token = None
    while True:
        page = core.list_namespaced_config_map("default", limit=10, _continue=token)
        names += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert names == [f"c{i:02d}" for i in range(25)]
    evens = core.list_namespaced_config_map("default", label_selector="parity=even")
    assert len(evens.items) == 13
    notodd = core.list_namespaced_config_map("default", label_selector="parity notin (odd)")
    assert len(notodd.items) == 13
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map("default", label_selector="parity in (")
    assert exc.value.status == 400


def test_watch_stream(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    start = core.list_namespaced_config_map("default").metadata.resource_version
    seen: list[tuple[str, str]] = []
    done = threading.Event()

    def consume() -> None:
        w = watch.Watch()
        for ev in w.stream(
            core.list_namespaced_config_map, "default", resource_version=start, timeout_seconds=20
        ):
            seen.append((ev["type"], ev["object"].metadata.name))
            if len(seen) == 3:
                w.stop()
        done.set()

    t = threading.Thread(target=consume)
    t.start()
    core.create_namespaced_config_map("default", _cm("w"))
    core.patch_namespaced_config_map("w", "default", {"data": {"k": "2"}})
    core.delete_namespaced_config_map("w", "default")
    assert done.wait(20)
    t.join()
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_deployment_scale_and_status_subresources(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    dep = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="d"),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels={"app": "d"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "d"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
            ),
        ),
    )
    apps.create_namespaced_deployment("default", dep)
    scale = apps.read_namespaced_deployment_scale("d", "default")
    assert scale.spec.replicas == 1 and scale.status.selector == "app=d"
    apps.patch_namespaced_deployment_scale("d", "default", {"spec": {"replicas": 4}})
    assert apps.read_namespaced_deployment("d", "default").spec.replicas == 4
    patched = apps.patch_namespaced_deployment_status(
        "d",
        "default",
        {"status": {"observedGeneration": 2, "replicas": 4}, "spec": {"replicas": 9}},
    )
    assert patched.status.replicas == 4 and patched.spec.replicas == 4  # status changes status only
    plain = apps.patch_namespaced_deployment("d", "default", {"status": {"replicas": 0}})
    assert plain.status.replicas == 4  # the main resource ignores status


def test_delete_collection_and_dry_run(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    for i in range(6):
        core.create_namespaced_config_map("default", _cm(f"dc{i}", group="a" if i < 4 else "b"))
    core.delete_collection_namespaced_config_map("default", label_selector="group=a")
    left = sorted(i.metadata.name for i in core.list_namespaced_config_map("default").items)
    assert left == ["dc4", "dc5"]
    dry = core.create_namespaced_config_map("default", _cm("ghost"), dry_run="All")
    assert dry.metadata.name == "ghost" and dry.metadata.uid
    core.delete_namespaced_config_map("dc4", "default", dry_run="All")
    left = sorted(i.metadata.name for i in core.list_namespaced_config_map("default").items)
    assert left == ["dc4", "dc5"]
