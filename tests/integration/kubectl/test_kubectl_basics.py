"""Unmodified kubectl against the embedded server: the everyday verbs."""

from __future__ import annotations

import json

from pilothouse.testing.apiserver import ServerThread

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
"""

CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  color: blue
"""


def test_version_and_api_resources(cluster: ServerThread) -> None:
    out = cluster.kubectl("version", "-o", "json").stdout
    assert json.loads(out)["serverVersion"]["major"] == "1"
    res = cluster.kubectl("api-resources").stdout
    for name in ("deployments", "configmaps", "customresourcedefinitions", "leases"):
        assert name in res
    assert "deploy" in res  # short names are served


def test_apply_get_describe_delete(cluster: ServerThread) -> None:
    out = cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT).stdout
    assert "deployment.apps/web created" in out
    out = cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT).stdout
    assert "deployment.apps/web unchanged" in out
    got = json.loads(cluster.kubectl("get", "deploy", "web", "-o", "json").stdout)
    assert got["spec"]["replicas"] == 2
    assert got["spec"]["strategy"]["type"] == "RollingUpdate"  # server-side defaults
    assert got["metadata"]["generation"] == 1
    table = cluster.kubectl("get", "deployments").stdout
    assert "NAME" in table and "web" in table and "READY" in table
    assert "nginx" in cluster.kubectl("describe", "deployment", "web").stdout
    # A change through client-side apply bumps generation.
    cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT.replace("replicas: 2", "replicas: 3"))
    got = json.loads(cluster.kubectl("get", "deploy", "web", "-o", "json").stdout)
    assert got["spec"]["replicas"] == 3 and got["metadata"]["generation"] == 2
    out = cluster.kubectl("delete", "deployment", "web", "--wait=true").stdout
    assert 'deployment.apps "web" deleted' in out
    res = cluster.kubectl("get", "deployment", "web", check=False)
    assert res.returncode != 0 and "NotFound" in res.stderr


def test_server_side_apply_and_conflicts(cluster: ServerThread) -> None:
    out = cluster.kubectl("apply", "--server-side", "-f", "-", input=CONFIGMAP).stdout
    assert "serverside-applied" in out
    res = cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=other",
        "-f",
        "-",
        input=CONFIGMAP.replace("blue", "red"),
        check=False,
    )
    assert res.returncode != 0 and "conflict" in res.stderr.lower()
    cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=other",
        "--force-conflicts",
        "-f",
        "-",
        input=CONFIGMAP.replace("blue", "red"),
    )
    got = json.loads(
        cluster.kubectl("get", "cm", "settings", "-o", "json", "--show-managed-fields").stdout
    )
    assert got["data"]["color"] == "red"
    managers = {m["manager"] for m in got["metadata"]["managedFields"]}
    assert "other" in managers


def test_label_annotate_patch_scale(cluster: ServerThread) -> None:
    cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    cluster.kubectl("label", "deployment", "web", "tier=frontend")
    cluster.kubectl("annotate", "deployment", "web", "note=hello")
    cluster.kubectl(
        "patch",
        "deployment",
        "web",
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.26"}]}}}}',
    )
    cluster.kubectl(
        "patch",
        "deployment",
        "web",
        "--type=merge",
        "-p",
        '{"metadata":{"labels":{"merged":"yes"}}}',
    )
    cluster.kubectl(
        "patch",
        "deployment",
        "web",
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/revisionHistoryLimit","value":3}]',
    )
    cluster.kubectl("scale", "deployment", "web", "--replicas=5")
    got = json.loads(cluster.kubectl("get", "deploy", "web", "-o", "json").stdout)
    assert got["metadata"]["labels"]["tier"] == "frontend"
    assert got["metadata"]["labels"]["merged"] == "yes"
    assert got["metadata"]["annotations"]["note"] == "hello"
    containers = got["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1 and containers[0]["image"] == "nginx:1.26"
    assert containers[0]["ports"][0]["containerPort"] == 80  # strategic merge kept the port
    assert got["spec"]["revisionHistoryLimit"] == 3
    assert got["spec"]["replicas"] == 5
    listed = cluster.kubectl("get", "deploy", "-l", "tier=frontend", "-o", "name").stdout
    assert listed.strip() == "deployment.apps/web"


def test_namespaces_and_field_selectors(cluster: ServerThread) -> None:
    cluster.kubectl("create", "namespace", "team-a")
    cluster.kubectl("-n", "team-a", "create", "configmap", "one", "--from-literal=a=b")
    cluster.kubectl("-n", "team-a", "create", "configmap", "two", "--from-literal=a=b")
    out = cluster.kubectl(
        "get", "cm", "-A", "--field-selector", "metadata.name=two", "-o", "name"
    ).stdout
    assert out.strip() == "configmap/two"
    cluster.kubectl("delete", "namespace", "team-a", "--wait=true", timeout=60)
    res = cluster.kubectl("get", "namespace", "team-a", check=False)
    assert "NotFound" in res.stderr


def test_wait_for_condition_on_crd(cluster: ServerThread) -> None:
    crd = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: A widget.
        properties:
          spec:
            type: object
            description: What the widget should be.
            properties:
              size: {type: integer, minimum: 1, description: How big.}
"""
    cluster.kubectl("apply", "-f", "-", input=crd)
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=20s"
    )
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input="apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n",
    )
    assert "w1" in cluster.kubectl("get", "wd").stdout
    explain = cluster.kubectl("explain", "widgets.spec.size").stdout
    assert "How big." in explain
    bad = cluster.kubectl(
        "apply",
        "-f",
        "-",
        input="apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w2}\nspec: {size: 0}\n",
        check=False,
    )
    assert bad.returncode != 0 and "spec.size" in bad.stderr
