"""Built-in validation of pods and workloads: field paths, reasons and the exact messages
kube-apiserver 1.32 answers with. Objects are defaulted first, as the server does."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pilothouse.apiserver import builtin, errors

UID = "0f3c1a9e-5b6d-4e8f-9a7b-2c4d6e8f0a1b"


def check(group_resource: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    """Default ``obj`` and return its errors as ``field: message`` lines."""
    new = copy.deepcopy(obj)
    builtin.default(group_resource, new)
    return [c.describe() for c in builtin.validate(group_resource, new, old)]


def stored(group_resource: str, obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    builtin.default(group_resource, out)
    assert builtin.validate(group_resource, out, None) == []
    return out


def pod(**spec: Any) -> dict[str, Any]:
    containers = [{"name": "nginx", "image": "nginx:1.14.2", "ports": [{"containerPort": 80}]}]
    return {
        "metadata": {"name": "nginx", "namespace": "default"},
        "spec": {"containers": containers, **spec},
    }


def deployment(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "nginx"}},
        "template": {
            "metadata": {"labels": {"app": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.14.2"}]},
        },
    }
    base.update(spec)
    return {"metadata": {"name": "nginx-deployment"}, "spec": base}


# --- pods -----------------------------------------------------------------------------------


def test_valid_pod() -> None:
    assert check("pods", pod()) == []


def test_pod_without_containers() -> None:
    assert check("pods", pod(containers=[])) == ["spec.containers: Required value"]


def test_container_names_images_and_ports() -> None:
    containers = [
        {"name": "Web", "image": "nginx", "ports": [{"containerPort": 70000, "protocol": "HTTP"}]},
        {"name": "sidecar", "image": ""},
        {
            "name": "sidecar",
            "image": "busybox",
            "ports": [{"containerPort": 80, "name": "http--x"}],
        },
    ]
    assert check("pods", pod(containers=containers)) == [
        'spec.containers[0].name: Invalid value: "Web": a lowercase RFC 1123 label must consist '
        "of lower case alphanumeric characters or '-', and must start and end with an alphanumeric "
        "character (e.g. 'my-name',  or '123-abc', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and "
        "65535, inclusive",
        'spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: '
        '"SCTP", "TCP", "UDP"',
        "spec.containers[1].image: Required value",
        'spec.containers[2].ports[0].name: Invalid value: "http--x": must not contain '
        "consecutive hyphens",
        'spec.containers[2].name: Duplicate value: "sidecar"',
    ]


def test_restart_and_dns_policy_enums() -> None:
    assert check("pods", pod(restartPolicy="Sometimes", dnsPolicy="Google")) == [
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", '
        '"OnFailure", "Never"',
        'spec.dnsPolicy: Unsupported value: "Google": supported values: '
        '"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"',
    ]


def test_requests_may_not_exceed_limits() -> None:
    resources = {
        "limits": {"cpu": "500m", "memory": "128Mi"},
        "requests": {"cpu": "1", "memory": "64Mi"},
    }
    containers = [{"name": "app", "image": "app:1", "resources": resources}]
    assert check("pods", pod(containers=containers)) == [
        'spec.containers[0].resources.requests: Invalid value: "1": must be less than or equal '
        "to cpu limit of 500m"
    ]


def test_resource_names_and_extended_resources() -> None:
    resources = {"limits": {"gpu": "1"}, "requests": {"example.com/dongle": "1"}}
    containers = [{"name": "app", "image": "app:1", "resources": resources}]
    # Defaulting copied the gpu limit into the requests, so both lists report it.
    assert check("pods", pod(containers=containers)) == [
        'spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard '
        "resource type or fully qualified",
        'spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard '
        "resource for containers",
        "spec.containers[0].resources.limits: Required value: Limit must be set for non "
        "overcommitable resources",
        'spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard '
        "resource type or fully qualified",
        'spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard '
        "resource for containers",
    ]


def test_volumes_and_mounts() -> None:
    containers = [
        {
            "name": "app",
            "image": "app:1",
            "volumeMounts": [
                {"name": "data", "mountPath": "/data"},
                {"name": "missing", "mountPath": "/data"},
            ],
        }
    ]
    volumes = [
        {"name": "data", "emptyDir": {}},
        {"name": "data", "configMap": {"name": "cfg"}},
        {"name": "both", "emptyDir": {}, "secret": {"secretName": "s"}},
        {"name": "pvc", "persistentVolumeClaim": {}},
    ]
    assert check("pods", pod(containers=containers, volumes=volumes)) == [
        'spec.volumes[1].name: Duplicate value: "data"',
        "spec.volumes[2].secret: Forbidden: may not specify more than 1 volume type",
        "spec.volumes[3].persistentVolumeClaim.claimName: Required value",
        'spec.containers[0].volumeMounts[1].name: Not found: "missing"',
        'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/data": must be unique',
    ]


def test_env_and_probes() -> None:
    containers = [
        {
            "name": "app",
            "image": "app:1",
            "env": [
                {"name": "A=B", "value": "x"},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}},
                {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "bad key"}}},
            ],
            "livenessProbe": {"successThreshold": 2, "periodSeconds": -1},
        }
    ]
    assert check("pods", pod(containers=containers)) == [
        'spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable '
        "name must consist only of printable ASCII characters other than '='",
        "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath: Unsupported value: "
        '"status.phase": supported values: "metadata.name", "metadata.namespace", '
        '"metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", '
        '"status.hostIPs", "status.podIP", "status.podIPs"',
        'spec.containers[0].env[2].valueFrom.secretKeyRef.key: Invalid value: "bad key": a valid '
        "config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
        "or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
        "spec.containers[0].livenessProbe: Required value: must specify a handler type",
        "spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater than "
        "or equal to 0",
        "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
    ]


def test_tolerations_and_deadlines() -> None:
    tolerations = [
        {"operator": "Equal", "value": "x"},
        {"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5},
    ]
    assert check("pods", pod(tolerations=tolerations, activeDeadlineSeconds=0)) == [
        "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
        'spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when '
        '`key` is empty, which means "match all values and all keys"',
        "spec.tolerations[1].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' "
        "when `tolerationSeconds` is set",
    ]


# --- pod updates ----------------------------------------------------------------------------


def test_pod_image_updates_are_allowed() -> None:
    old = stored("pods", pod())
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:1.25"
    new["metadata"]["labels"] = {"tier": "web"}
    assert check("pods", new, old) == []


def test_pod_spec_changes_are_forbidden_with_the_real_message() -> None:
    old = stored("pods", pod())
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["ports"][0]["containerPort"] = 8080
    [message] = check("pods", new, old)
    assert message.startswith(
        "spec: Forbidden: pod updates may not change fields other than "
        "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
        "`spec.tolerations` (only additions to existing tolerations),"
        "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
        "negative)\n  core.PodSpec{\n"
    )
    assert "- \tcontainers[0].ports[0].containerPort: 80," in message
    assert "+ \tcontainers[0].ports[0].containerPort: 8080," in message


def test_pod_updates_ignore_zero_values_written_out_by_clients() -> None:
    old = stored("pods", pod())
    new = copy.deepcopy(old)
    new["spec"]["hostNetwork"] = False
    new["spec"]["nodeSelector"] = {}
    assert check("pods", new, old) == []


def test_pod_update_containers_tolerations_and_deadline() -> None:
    old = stored("pods", pod(activeDeadlineSeconds=100))
    added = copy.deepcopy(old)
    added["spec"]["containers"].append({"name": "extra", "image": "busybox"})
    assert check("pods", added, old) == [
        "spec.containers: Forbidden: pod updates may not add or remove containers"
    ]
    more_tolerations = copy.deepcopy(old)
    more_tolerations["spec"]["tolerations"].append({"key": "gpu", "operator": "Exists"})
    more_tolerations["spec"]["activeDeadlineSeconds"] = 50
    assert check("pods", more_tolerations, old) == []
    # (Changing a default toleration's key would just get the default re-added.)
    changed = copy.deepcopy(old)
    changed["spec"]["tolerations"][1]["operator"] = "Equal"
    changed["spec"]["activeDeadlineSeconds"] = 200
    assert check("pods", changed, old) == [
        "spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous "
        "value"
    ]
    removed_deadline = copy.deepcopy(old)
    del removed_deadline["spec"]["activeDeadlineSeconds"]
    removed_deadline["spec"]["tolerations"][1]["operator"] = "Equal"
    assert check("pods", removed_deadline, old)[:2] == [
        "spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive "
        "integer to nil value",
        "spec.tolerations: Forbidden: existing toleration can not be modified except its "
        "tolerationSeconds",
    ]


# --- apps -----------------------------------------------------------------------------------


def test_valid_deployment() -> None:
    assert check("deployments.apps", deployment()) == []


def test_deployment_selector_must_match_template_labels() -> None:
    obj = deployment(selector={"matchLabels": {"app": "web"}})
    causes = builtin.validate("deployments.apps", stored_unvalidated("deployments.apps", obj), None)
    assert [c.describe() for c in causes] == [
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"nginx"}: '
        "`selector` does not match template `labels`"
    ]
    err = errors.invalid("Deployment", "nginx-deployment", "apps", causes)
    assert err.message == (
        'Deployment.apps "nginx-deployment" is invalid: spec.template.metadata.labels: Invalid '
        'value: map[string]string{"app":"nginx"}: `selector` does not match template `labels`'
    )
    assert causes[0].reason == "FieldValueInvalid"


def stored_unvalidated(group_resource: str, obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    builtin.default(group_resource, out)
    return out


def test_deployment_without_selector_gets_both_errors() -> None:
    obj = deployment()
    del obj["spec"]["selector"]
    assert check("deployments.apps", obj) == [
        "spec.selector: Required value",
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"nginx"}: '
        "`selector` does not match template `labels`",
    ]


def test_deployment_counts_strategy_and_template() -> None:
    obj = deployment(
        replicas=-1,
        minReadySeconds=700,
        strategy={
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"},
        },
    )
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert check("deployments.apps", obj) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when "
        "`maxSurge` is 0",
        "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds",
    ]


def test_deployment_bad_percent_and_empty_selector() -> None:
    obj = deployment(
        selector={}, strategy={"rollingUpdate": {"maxSurge": "abc", "maxUnavailable": "150%"}}
    )
    assert check("deployments.apps", obj) == [
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for "
        "deployment",
        "spec.strategy.rollingUpdate.maxSurge: Invalid value: abc: a valid percent string must be "
        "a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for "
        "validation is '[0-9]+%')",
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 150%: must not be greater "
        "than 100%",
    ]


def test_deployment_selector_is_immutable() -> None:
    old = stored("deployments.apps", deployment())
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "nginx", "tier": "fe"}}
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "fe"
    assert check("deployments.apps", new, old) == [
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":'
        '"nginx", "tier":"fe"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is '
        "immutable"
    ]
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 10
    assert check("deployments.apps", scaled, old) == []


def test_replicaset_and_daemonset() -> None:
    rs = deployment()
    del rs["spec"]["selector"]
    assert check("replicasets.apps", rs)[0] == "spec.selector: Required value"
    ds = deployment(updateStrategy={"rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}})
    del ds["spec"]["replicas"]
    assert check("daemonsets.apps", ds) == [
        "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when "
        "maxUnavailable is non-zero"
    ]
    ds["spec"]["updateStrategy"] = {"type": "Sometimes"}
    assert check("daemonsets.apps", ds) == [
        'spec.updateStrategy: Unsupported value: apps.DaemonSetUpdateStrategy{Type:"Sometimes", '
        "RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}: supported values: "
        '"RollingUpdate", "OnDelete"'
    ]


def web_statefulset() -> dict[str, Any]:
    obj = deployment()
    obj["metadata"]["name"] = "web"
    obj["spec"]["serviceName"] = "nginx"
    return obj


def test_statefulset_create_and_update() -> None:
    assert check("statefulsets.apps", web_statefulset()) == []
    bad = web_statefulset()
    bad["spec"]["podManagementPolicy"] = "Random"
    assert check("statefulsets.apps", bad) == [
        "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'"
    ]
    old = stored("statefulsets.apps", web_statefulset())
    new = copy.deepcopy(old)
    new["spec"]["serviceName"] = "other"
    assert check("statefulsets.apps", new, old) == [
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', "
        "'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
        "'minReadySeconds' are forbidden"
    ]
    new["spec"]["serviceName"] = "nginx"
    new["spec"]["replicas"] = 5
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.25"
    assert check("statefulsets.apps", new, old) == []


# --- batch ----------------------------------------------------------------------------------


def pi_job(restart_policy: str | None = "Never") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "pi", "image": "perl:5.34.0"}]}
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    return {
        "metadata": {"name": "pi", "namespace": "default", "uid": UID},
        "spec": {"backoffLimit": 4, "template": {"spec": spec}},
    }


def test_job_from_the_docs_is_valid() -> None:
    assert check("jobs.batch", pi_job()) == []


def test_job_template_defaults_to_an_unsupported_restart_policy() -> None:
    assert check("jobs.batch", pi_job(restart_policy=None)) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: '
        '"OnFailure", "Never"'
    ]


def test_job_generated_selector_must_stay_intact() -> None:
    job = stored_unvalidated("jobs.batch", pi_job())
    job["spec"]["template"]["metadata"]["labels"]["controller-uid"] = "other"
    del job["spec"]["template"]["metadata"]["labels"]["job-name"]
    messages = [c.describe() for c in builtin.validate("jobs.batch", job, None)]
    assert messages[:2] == [
        "spec.template.metadata.labels[controller-uid]: Invalid value: "
        'map[string]string{"batch.kubernetes.io/controller-uid":"' + UID + '", '
        '"batch.kubernetes.io/job-name":"pi", "controller-uid":"other"}: must be \'' + UID + "'",
        "spec.template.metadata.labels[job-name]: Required value: must be 'pi'",
    ]


def test_job_updates() -> None:
    old = stored("jobs.batch", pi_job())
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:5.36"
    new["spec"]["completions"] = 3
    assert check("jobs.batch", new, old) == [
        "spec.completions: Invalid value: 3: field is immutable",
        "spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable",
    ]
    suspended_old = copy.deepcopy(old)
    suspended_old["spec"]["suspend"] = True
    relabelled = copy.deepcopy(suspended_old)
    relabelled["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd"}
    assert check("jobs.batch", relabelled, suspended_old) == []


def test_cronjob_schedule_and_policies() -> None:
    cronjob: dict[str, Any] = {
        "metadata": {"name": "hello"},
        "spec": {
            "schedule": "*/5 * * * *",
            "jobTemplate": {"spec": {"template": {"spec": pi_job()["spec"]["template"]["spec"]}}},
        },
    }
    assert check("cronjobs.batch", cronjob) == []
    cases = {
        "foo": 'spec.schedule: Invalid value: "foo": expected exactly 5 fields, found 1: [foo]',
        "60 * * * *": 'spec.schedule: Invalid value: "60 * * * *": end of range (60) above '
        "maximum (59): 60",
        "* * * * mon-x": 'spec.schedule: Invalid value: "* * * * mon-x": failed to parse int '
        "from x: "
        'strconv.Atoi: parsing "x": invalid syntax',
        "@sometimes": 'spec.schedule: Invalid value: "@sometimes": unrecognized descriptor: '
        "@sometimes",
    }
    for schedule, message in cases.items():
        cronjob["spec"]["schedule"] = schedule
        assert check("cronjobs.batch", cronjob) == [message]
    cronjob["spec"].update(
        {
            "schedule": "TZ=UTC 0 * * * *",
            "concurrencyPolicy": "Sometimes",
            "timeZone": "Mars/Olympus",
        }
    )
    cronjob["spec"]["jobTemplate"]["spec"]["selector"] = {"matchLabels": {"a": "b"}}
    assert check("cronjobs.batch", cronjob) == [
        'spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, '
        "use timeZone field instead",
        'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus',
        'spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", '
        '"Forbid", "Replace"',
        "spec.jobTemplate.spec.selector: Invalid value: v1.LabelSelector{MatchLabels:"
        'map[string]string{"a":"b"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: '
        "`selector` will be auto-generated",
    ]


@pytest.mark.parametrize(
    "schedule", ["@hourly", "@every 1h30m", "0 0 1 jan,jul *", "*/15 9-17 * * MON-FRI", "0 0 ? * *"]
)
def test_valid_cron_schedules(schedule: str) -> None:
    from pilothouse.apiserver.builtin._cron import parse_standard

    parse_standard(schedule)


# --- metadata -------------------------------------------------------------------------------


def test_unprefixed_finalizers_must_be_standard_on_core_style_kinds() -> None:
    obj = pod()
    obj["metadata"]["finalizers"] = ["kubernetes", "cleanup", "example.com/cleanup"]
    assert check("pods", obj) == [
        'metadata.finalizers[1]: Invalid value: "cleanup": name is neither a standard finalizer '
        "name nor is it fully qualified"
    ]
    crd_style = {"metadata": {"finalizers": ["cleanup"]}}
    assert builtin.validate("widgets.example.com", crd_style, None) == []
