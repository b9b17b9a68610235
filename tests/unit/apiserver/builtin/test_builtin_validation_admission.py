"""Built-in validation of RBAC objects, admission webhook configurations and CRDs, with
kube-apiserver 1.32's exact field paths and messages."""

from __future__ import annotations

import copy
from typing import Any

from pilothouse.apiserver import builtin


def check(group_resource: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    new = copy.deepcopy(obj)
    builtin.default(group_resource, new)
    return [c.describe() for c in builtin.validate(group_resource, new, old)]


def stored(group_resource: str, obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    builtin.default(group_resource, out)
    assert builtin.validate(group_resource, out, None) == []
    return out


# --- RBAC -----------------------------------------------------------------------------------


def test_rbac() -> None:
    role = {
        "rules": [
            {"apiGroups": [""], "resources": ["pods"]},
            {"verbs": ["get"], "nonResourceURLs": ["/healthz"]},
        ]
    }
    assert check("roles.rbac.authorization.k8s.io", role) == [
        "rules[0].verbs: Required value: verbs must contain at least one value",
        'rules[1].nonResourceURLs: Invalid value: []string{"/healthz"}: namespaced rules cannot '
        "apply to non-resource URLs",
    ]
    binding = {
        "roleRef": {"kind": "Role", "name": "pod-reader"},
        "subjects": [{"kind": "User", "name": "jane"}, {"kind": "Robot", "name": "r2"}],
    }
    assert check("clusterrolebindings.rbac.authorization.k8s.io", binding) == [
        'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"',
        'subjects[1].kind: Unsupported value: "Robot": supported values: "ServiceAccount", '
        '"User", "Group"',
    ]
    old = stored("rolebindings.rbac.authorization.k8s.io", binding | {"subjects": []})
    changed = {"roleRef": {"kind": "ClusterRole", "name": "view"}}
    assert check("rolebindings.rbac.authorization.k8s.io", changed, old) == [
        'roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", '
        'Kind:"ClusterRole", Name:"view"}: cannot change roleRef'
    ]


# --- admission webhooks ---------------------------------------------------------------------


def webhook(**fields: Any) -> dict[str, Any]:
    hook: dict[str, Any] = {
        "name": "pod-policy.example.com",
        "rules": [
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": ["CREATE"],
                "resources": ["pods"],
                "scope": "Namespaced",
            }
        ],
        "clientConfig": {
            "service": {"namespace": "example-namespace", "name": "example-service"},
            "caBundle": "Y2E=",
        },
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "timeoutSeconds": 5,
    }
    hook.update(fields)
    return hook


VWC = "validatingwebhookconfigurations.admissionregistration.k8s.io"
MWC = "mutatingwebhookconfigurations.admissionregistration.k8s.io"


def test_valid_webhook_configuration() -> None:
    assert check(VWC, {"webhooks": [webhook()]}) == []
    assert check(MWC, {"webhooks": [webhook(reinvocationPolicy="IfNeeded")]}) == []


def test_webhook_names_side_effects_and_versions() -> None:
    hooks = [
        webhook(name="pod-policy", sideEffects=None, admissionReviewVersions=["v2"]),
        webhook(name="dup.example.com", timeoutSeconds=60),
        webhook(name="dup.example.com", sideEffects="Some"),
    ]
    assert check(VWC, {"webhooks": hooks}) == [
        'webhooks[0].name: Invalid value: "pod-policy": should be a domain with at least three '
        "segments separated by dots",
        "webhooks[0].sideEffects: Required value: must specify one of None, NoneOnDryRun",
        'webhooks[0].admissionReviewVersions: Invalid value: []string{"v2"}: must include at '
        "least one of v1, v1beta1",
        "webhooks[1].timeoutSeconds: Invalid value: 60: the timeout value must be between 1 and "
        "30 seconds",
        'webhooks[2].sideEffects: Unsupported value: "Some": supported values: "None", '
        '"NoneOnDryRun"',
        'webhooks[2].name: Duplicate value: "dup.example.com"',
    ]


def test_webhook_client_config_and_rules() -> None:
    hooks = [
        webhook(name="a.example.com", clientConfig={}),
        webhook(
            name="b.example.com", clientConfig={"url": "http://user@hooks.example.com/validate?x=1"}
        ),
        webhook(name="c.example.com", clientConfig={"service": {"name": "svc"}}),
        webhook(
            rules=[
                {
                    "operations": ["*", "CREATE"],
                    "apiGroups": ["*"],
                    "apiVersions": ["v1"],
                    "resources": ["*", "pods"],
                }
            ]
        ),
    ]
    assert check(VWC, {"webhooks": hooks}) == [
        "webhooks[0].clientConfig: Required value: exactly one of url or service is required",
        "webhooks[1].clientConfig.url: Invalid value: \"http\": 'https' is the only allowed URL "
        "scheme; desired format: https://host[/path]",
        'webhooks[1].clientConfig.url: Invalid value: "user": user information is not permitted '
        "in the URL",
        'webhooks[1].clientConfig.url: Invalid value: "x=1": query parameters are not permitted '
        "in the URL",
        # Upstream's swapped arguments: the missing namespace is reported at `name`.
        "webhooks[2].clientConfig.service.name: Required value",
        "webhooks[3].rules[0].operations: Invalid value: []admissionregistration.OperationType"
        '{"*", "CREATE"}: if \'*\' is present, must not specify other operations',
        'webhooks[3].rules[0].resources: Invalid value: []string{"*", "pods"}: if \'*\' is '
        "present, must not specify other resources without subresources",
    ]


def test_webhook_updates_keep_old_objects_editable() -> None:
    old: dict[str, Any] = {"webhooks": [webhook(sideEffects="Unknown")]}
    builtin.default(VWC, old)
    assert check(VWC, old, old) == []


# --- CRDs -----------------------------------------------------------------------------------

CRD = "customresourcedefinitions.apiextensions.k8s.io"


def crontab_crd() -> dict[str, Any]:
    return {
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
            "scope": "Namespaced",
            "names": {
                "plural": "crontabs",
                "singular": "crontab",
                "kind": "CronTab",
                "shortNames": ["ct"],
            },
        },
    }


def test_crd_from_the_docs_is_valid() -> None:
    assert check(CRD, crontab_crd()) == []


def test_crd_spec_errors() -> None:
    crd = crontab_crd()
    crd["metadata"]["name"] = "crontabs.example"
    crd["spec"]["group"] = "example"
    crd["spec"]["scope"] = "Global"
    crd["spec"]["names"]["plural"] = "CronTabs"
    crd["spec"]["versions"].append({"name": "V2", "served": True, "storage": True})
    assert check(CRD, crd) == [
        'metadata.name: Invalid value: "crontabs.example": must be '
        'spec.names.plural+"."+spec.group',
        'spec.group: Invalid value: "example": should be a domain with at least one dot',
        'spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"',
        'spec.versions[1].name: Invalid value: "V2": a DNS-1035 label must consist of lower case '
        "alphanumeric characters or '-', start with an alphabetic character, and end with an "
        "alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
        "'[a-z]([-a-z0-9]*[a-z0-9])?')",
        "spec.versions: Invalid value: []apiextensions.CustomResourceDefinitionVersion{"
        'apiextensions.CustomResourceDefinitionVersion{Name:"v1", Served:true, Storage:true, ...}, '
        'apiextensions.CustomResourceDefinitionVersion{Name:"V2", Served:true, Storage:true, '
        "...}}: "
        "must have exactly one version marked as storage version",
        'spec.names.plural: Invalid value: "CronTabs": a DNS-1035 label must consist of lower case '
        "alphanumeric characters or '-', start with an alphabetic character, and end with an "
        "alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
        "'[a-z]([-a-z0-9]*[a-z0-9])?')",
    ]


def test_crd_updates() -> None:
    old = stored(CRD, crontab_crd())
    old["status"]["conditions"] = [{"type": "Established", "status": "True"}]
    new = copy.deepcopy(old)
    new["spec"]["group"] = "other.example.com"
    new["spec"]["scope"] = "Cluster"
    new["spec"]["versions"] = [{"name": "v2", "served": True, "storage": True}]
    assert check(CRD, new, old) == [
        'spec.scope: Invalid value: "Cluster": field is immutable',
        'spec.group: Invalid value: "other.example.com": field is immutable',
        'status.storedVersions[0]: Invalid value: "v1": must appear in spec.versions',
    ]


def test_crd_conversion() -> None:
    crd = crontab_crd()
    crd["spec"]["conversion"] = {"strategy": "Webhook"}
    assert check(CRD, crd) == [
        "spec.conversion.webhook: Required value: required when strategy is set to Webhook"
    ]
    crd["spec"]["conversion"] = {
        "strategy": "Webhook",
        "webhook": {
            "clientConfig": {"url": "https://conv.example.com"},
            "conversionReviewVersions": ["v1"],
        },
    }
    assert check(CRD, crd) == []
