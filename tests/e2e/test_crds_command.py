"""``pilothouse crds`` prints an operator's CRDs as YAML that kubectl applies unchanged."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

from pilothouse.testing import apiserver

PILOTHOUSE = pathlib.Path(sys.executable).with_name("pilothouse")

MODULE = textwrap.dedent(
    '''
    from pilothouse import crd
    from pilothouse.runtime import operator


    class GizmoSpec(crd.Model):
        size: int = 1
        """How big."""


    class Gizmo(crd.CustomResource, group="toys.example.com", version="v1", kind="Gizmo",
                short_names=("gz",)):
        """A gizmo."""

        spec: GizmoSpec


    OPERATOR = operator.Operator("gizmos", lambda mgr: None, crds=[Gizmo])
    '''
)


def test_crds_prints_yaml_kubectl_applies(
    cluster: apiserver.ServerThread, tmp_path: pathlib.Path
) -> None:
    (tmp_path / "gizmos.py").write_text(MODULE)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run(
        [str(PILOTHOUSE), "crds", "gizmos:OPERATOR"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    ).stdout
    assert out.startswith("---") and "kind: CustomResourceDefinition" in out
    cluster.kubectl("apply", "-f", "-", input=out)
    cluster.kubectl("wait", "--for=condition=Established", "crd/gizmos.toys.example.com")
    cluster.apply(
        {
            "apiVersion": "toys.example.com/v1",
            "kind": "Gizmo",
            "metadata": {"name": "g"},
            "spec": {},
        }
    )
    assert cluster.get_json("gz", "g")["spec"] == {"size": 1}


def test_crds_rejects_a_bad_spec() -> None:
    out = subprocess.run(
        [str(PILOTHOUSE), "crds", "no_such_module:X"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "cannot import 'no_such_module'" in out.stderr
