"""Built-in defaulting of pods and workloads, checked against what kube-apiserver 1.32
returns for real-world manifests (the examples of the Kubernetes documentation)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pilothouse.apiserver import builtin
from pilothouse.apiserver.builtin.defaults_pod import image_pull_policy

UID = "0f3c1a9e-5b6d-4e8f-9a7b-2c4d6e8f0a1b"


def defaulted(group_resource: str, obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    builtin.default(group_resource, out)
    return out


def nginx_container() -> dict[str, Any]:
    return {"name": "nginx", "image": "nginx:1.14.2", "ports": [{"containerPort": 80}]}


DEFAULTED_NGINX = {
    "name": "nginx",
    "image": "nginx:1.14.2",
    "ports": [{"containerPort": 80, "protocol": "TCP"}],
    "resources": {},
    "imagePullPolicy": "IfNotPresent",
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
}
TEMPLATE_SPEC_DEFAULTS = {
    "dnsPolicy": "ClusterFirst",
    "restartPolicy": "Always",
    "schedulerName": "default-scheduler",
    "securityContext": {},
    "terminationGracePeriodSeconds": 30,
}
TOLERATIONS = [
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
]


# --- pods -----------------------------------------------------------------------------------


def test_pod_from_the_docs_gets_every_default_a_real_server_adds() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "nginx", "namespace": "default"},
        "spec": {"containers": [nginx_container()]},
    }
    assert defaulted("pods", pod)["spec"] == {
        "containers": [DEFAULTED_NGINX],
        **TEMPLATE_SPEC_DEFAULTS,
        "enableServiceLinks": True,
        "serviceAccountName": "default",
        "serviceAccount": "default",
        "tolerations": TOLERATIONS,
        "priority": 0,
        "preemptionPolicy": "PreemptLowerPriority",
    }


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
        ("nginx:latest@sha256:" + "a" * 64, "Always"),
        ("registry.example.com:5000/team/app", "Always"),
        ("registry.example.com:5000/team/app:v1.2.3", "IfNotPresent"),
        ("localhost/app:latest", "Always"),
        ("Nginx", "IfNotPresent"),  # not a valid reference: ParseImageName fails, no tag
        ("", "IfNotPresent"),
    ],
)
def test_image_pull_policy_follows_the_tag(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


def test_explicit_values_are_kept() -> None:
    pod = {
        "spec": {
            "restartPolicy": "Never",
            "dnsPolicy": "Default",
            "terminationGracePeriodSeconds": 0,
            "enableServiceLinks": False,
            "serviceAccountName": "builder",
            "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "Never"}],
        }
    }
    spec = defaulted("pods", pod)["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["dnsPolicy"] == "Default"
    assert spec["terminationGracePeriodSeconds"] == 0
    assert spec["enableServiceLinks"] is False
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "builder"
    assert spec["containers"][0]["imagePullPolicy"] == "Never"


def test_pod_requests_default_to_limits_and_quantities_are_canonical() -> None:
    container = {
        "name": "app",
        "image": "app:1",
        "resources": {"limits": {"cpu": "0.5", "memory": "1.5Gi"}, "requests": {"cpu": "100m"}},
    }
    init = {"name": "init", "image": "init:1", "resources": {"limits": {"cpu": 2}}}
    pod = {"spec": {"containers": [container], "initContainers": [init]}}
    spec = defaulted("pods", pod)["spec"]
    assert spec["containers"][0]["resources"] == {
        "limits": {"cpu": "500m", "memory": "1536Mi"},
        "requests": {"cpu": "100m", "memory": "1536Mi"},
    }
    assert spec["initContainers"][0]["resources"] == {
        "limits": {"cpu": "2"},
        "requests": {"cpu": "2"},
    }


def test_empty_limits_do_not_create_requests() -> None:
    pod = {"spec": {"containers": [{"name": "c", "image": "i:1", "resources": {"limits": {}}}]}}
    assert defaulted("pods", pod)["spec"]["containers"][0]["resources"] == {"limits": {}}


def test_existing_tolerations_suppress_the_default_ones() -> None:
    tolerate_all = {"operator": "Exists"}
    spec = defaulted("pods", {"spec": {"containers": [], "tolerations": [tolerate_all]}})["spec"]
    assert spec["tolerations"] == [tolerate_all]
    own = {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 60,
    }
    spec = defaulted("pods", {"spec": {"containers": [], "tolerations": [own]}})["spec"]
    assert spec["tolerations"] == [own, TOLERATIONS[1]]


def test_priority_comes_from_the_system_classes_and_is_left_to_the_caller_otherwise() -> None:
    critical = defaulted("pods", {"spec": {"priorityClassName": "system-node-critical"}})
    assert critical["spec"]["priority"] == 2000001000
    assert critical["spec"]["preemptionPolicy"] == "PreemptLowerPriority"
    custom = defaulted("pods", {"spec": {"priorityClassName": "batch-low"}})
    assert "priority" not in custom["spec"]
    assert "preemptionPolicy" not in custom["spec"]


def test_deprecated_service_account_field_is_an_alias() -> None:
    spec = defaulted("pods", {"spec": {"serviceAccount": "legacy"}})["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "legacy"


def test_mirror_pods_get_no_service_account() -> None:
    pod = {"metadata": {"annotations": {"kubernetes.io/config.mirror": "abc"}}, "spec": {}}
    assert "serviceAccountName" not in defaulted("pods", pod)["spec"]


def test_host_network_pods_default_host_ports() -> None:
    pod = {"spec": {"hostNetwork": True, "containers": [nginx_container()]}}
    port = defaulted("pods", pod)["spec"]["containers"][0]["ports"][0]
    assert port == {"containerPort": 80, "protocol": "TCP", "hostPort": 80}


def test_volume_sources_probes_and_env_are_defaulted() -> None:
    pod = {
        "spec": {
            "volumes": [
                {"name": "scratch"},
                {"name": "cfg", "configMap": {"name": "app-config"}},
                {"name": "creds", "secret": {"secretName": "db"}},
                {"name": "host", "hostPath": {"path": "/var/log"}},
                {
                    "name": "info",
                    "downwardAPI": {
                        "items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]
                    },
                },
                {
                    "name": "token",
                    "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]},
                },
                {
                    "name": "eph",
                    "ephemeral": {
                        "volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}
                    },
                },
            ],
            "containers": [
                {
                    "name": "app",
                    "image": "app:1",
                    "env": [
                        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
                    ],
                    "readinessProbe": {"grpc": {"port": 9090}},
                    "startupProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 5},
                    "lifecycle": {"preStop": {"httpGet": {"port": 8080}}},
                }
            ],
        }
    }
    spec = defaulted("pods", pod)["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["scratch"] == {"name": "scratch", "emptyDir": {}}
    assert volumes["cfg"]["configMap"] == {"name": "app-config", "defaultMode": 420}
    assert volumes["creds"]["secret"] == {"secretName": "db", "defaultMode": 420}
    assert volumes["host"]["hostPath"] == {"path": "/var/log", "type": ""}
    assert volumes["info"]["downwardAPI"]["defaultMode"] == 420
    assert volumes["info"]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"] == "v1"
    assert volumes["token"]["projected"] == {
        "sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}],
        "defaultMode": 420,
    }
    claim_spec = volumes["eph"]["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert claim_spec["volumeMode"] == "Filesystem"
    container = spec["containers"][0]
    assert container["env"][0]["valueFrom"]["fieldRef"] == {
        "fieldPath": "spec.nodeName",
        "apiVersion": "v1",
    }
    assert container["readinessProbe"] == {
        "grpc": {"port": 9090, "service": ""},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert container["startupProbe"]["periodSeconds"] == 5
    assert container["lifecycle"]["preStop"]["httpGet"] == {
        "port": 8080,
        "path": "/",
        "scheme": "HTTP",
    }


# --- workloads ------------------------------------------------------------------------------


def nginx_template(labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"labels": labels or {"app": "nginx"}},
        "spec": {"containers": [nginx_container()]},
    }


def test_deployment_from_the_docs() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nginx-deployment", "labels": {"app": "nginx"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": nginx_template(),
        },
    }
    spec = defaulted("deployments.apps", deployment)["spec"]
    assert spec == {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "nginx"}},
        "template": {
            "metadata": {"labels": {"app": "nginx"}},
            # Templates get PodSpec defaults only: no admission plugins, no Pod-only fields.
            "spec": {"containers": [DEFAULTED_NGINX], **TEMPLATE_SPEC_DEFAULTS},
        },
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
        },
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    }


def test_recreate_deployments_get_no_rolling_update_block() -> None:
    deployment = {"spec": {"strategy": {"type": "Recreate"}, "template": nginx_template()}}
    spec = defaulted("deployments.apps", deployment)["spec"]
    assert spec["strategy"] == {"type": "Recreate"}
    assert spec["replicas"] == 1


def test_replicaset_and_daemonset() -> None:
    rs = defaulted("replicasets.apps", {"spec": {"template": nginx_template()}})
    assert rs["spec"]["replicas"] == 1
    ds = defaulted("daemonsets.apps", {"spec": {"template": nginx_template()}})
    assert ds["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert ds["spec"]["revisionHistoryLimit"] == 10
    on_delete = defaulted("daemonsets.apps", {"spec": {"updateStrategy": {"type": "OnDelete"}}})
    assert on_delete["spec"]["updateStrategy"] == {"type": "OnDelete"}


def test_statefulset_from_the_docs() -> None:
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "nginx"}},
            "serviceName": "nginx",
            "replicas": 3,
            "minReadySeconds": 10,
            "template": nginx_template(),
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "www"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": "my-storage-class",
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
        },
    }
    spec = defaulted("statefulsets.apps", sts)["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    assert spec["revisionHistoryLimit"] == 10
    assert spec["replicas"] == 3
    claim = spec["volumeClaimTemplates"][0]
    assert claim["spec"]["volumeMode"] == "Filesystem"
    assert claim["status"] == {"phase": "Pending"}


def test_statefulset_on_delete_strategy_gets_no_partition() -> None:
    sts = {"spec": {"updateStrategy": {"type": "OnDelete"}}}
    assert defaulted("statefulsets.apps", sts)["spec"]["updateStrategy"] == {"type": "OnDelete"}


def pi_job(uid: str | None = UID) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "pi", "namespace": "default"}
    if uid:
        meta["uid"] = uid
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "backoffLimit": 4,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "pi",
                            "image": "perl:5.34.0",
                            "command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"],
                        }
                    ],
                    "restartPolicy": "Never",
                }
            },
        },
    }


def test_job_from_the_docs_gets_a_generated_selector() -> None:
    job = defaulted("jobs.batch", pi_job())
    generated = {
        "batch.kubernetes.io/controller-uid": UID,
        "batch.kubernetes.io/job-name": "pi",
        "controller-uid": UID,
        "job-name": "pi",
    }
    assert job["metadata"]["labels"] == generated
    spec = job["spec"]
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}}
    assert spec["template"]["metadata"]["labels"] == generated
    assert {k: v for k, v in spec.items() if k not in ("selector", "template")} == {
        "backoffLimit": 4,
        "completions": 1,
        "parallelism": 1,
        "completionMode": "NonIndexed",
        "suspend": False,
        "podReplacementPolicy": "TerminatingOrFailed",
    }
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_job_selector_generation_respects_manual_selectors_and_needs_a_uid() -> None:
    manual = pi_job()
    manual["spec"]["manualSelector"] = True
    manual["spec"]["selector"] = {"matchLabels": {"app": "pi"}}
    spec = defaulted("jobs.batch", manual)["spec"]
    assert spec["selector"] == {"matchLabels": {"app": "pi"}}
    assert "metadata" not in spec["template"]
    assert "selector" not in defaulted("jobs.batch", pi_job(uid=None))["spec"]


def test_job_count_and_policy_defaults() -> None:
    job = pi_job()
    job["spec"].update(
        {
            "parallelism": 3,
            "backoffLimit": None,
            "backoffLimitPerIndex": 1,
            "completionMode": "Indexed",
            "podFailurePolicy": {
                "rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]
            },
        }
    )
    spec = defaulted("jobs.batch", job)["spec"]
    assert "completions" not in spec  # only defaulted when parallelism is unset too
    assert spec["backoffLimit"] == 2147483647
    assert spec["podReplacementPolicy"] == "Failed"
    assert spec["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"] == "True"


def test_cronjob_from_the_docs() -> None:
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "hello"},
        "spec": {
            "schedule": "* * * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": "hello", "image": "busybox:1.28", "command": ["date"]}
                            ],
                            "restartPolicy": "OnFailure",
                        }
                    }
                }
            },
        },
    }
    spec = defaulted("cronjobs.batch", cronjob)["spec"]
    assert {k: v for k, v in spec.items() if k != "jobTemplate"} == {
        "schedule": "* * * * *",
        "concurrencyPolicy": "Allow",
        "suspend": False,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 1,
    }
    job_spec = spec["jobTemplate"]["spec"]
    # SetDefaults_Job applies to Jobs, not to the JobSpec of a template.
    assert set(job_spec) == {"template"}
    assert job_spec["template"]["spec"]["schedulerName"] == "default-scheduler"


def test_replication_controller_copies_template_labels() -> None:
    rc = defaulted(
        "replicationcontrollers",
        {"metadata": {"name": "rc"}, "spec": {"template": nginx_template()}},
    )
    assert rc["spec"]["selector"] == {"app": "nginx"}
    assert rc["metadata"]["labels"] == {"app": "nginx"}
    assert rc["spec"]["replicas"] == 1
