"""Which name rule each built-in resource's ``metadata.name`` follows.

kube-apiserver gives every resource a ``ValidateNameFunc``: most names are DNS-1123
subdomains, but ``services`` are DNS-1035 labels, ``namespaces`` and ``statefulsets.apps``
DNS-1123 labels, RBAC objects and ``apiservices`` mere path segments, and certificate
signing requests may be called anything. This is that table, keyed ``resource[.group]``;
everything unlisted, custom resources included, is a DNS-1123 subdomain. The rules
themselves are applied by :func:`pilothouse.api.validation.validate_object_name`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

__all__ = ["NAME_RULES", "NameRule", "name_rule"]


class NameRule(enum.Enum):
    """Which ``ValidateNameFunc`` a resource's ``metadata.name`` goes through."""

    DNS1123_SUBDOMAIN = "dns1123-subdomain"
    DNS1123_LABEL = "dns1123-label"
    DNS1035_LABEL = "dns1035-label"
    PATH_SEGMENT = "path-segment"
    NONE = "none"


#: Built-in resources whose names do not follow the default DNS-1123 subdomain rule, keyed
#: ``resource[.group]``. Pods, configmaps, secrets, nodes, deployments, jobs, CRDs, custom
#: resources and the rest are all DNS-1123 subdomains.
NAME_RULES: Mapping[str, NameRule] = {
    "namespaces": NameRule.DNS1123_LABEL,
    "services": NameRule.DNS1035_LABEL,
    # Since 1.26: pod hostnames derive from the name, and hostnames are labels.
    "statefulsets.apps": NameRule.DNS1123_LABEL,
    "roles.rbac.authorization.k8s.io": NameRule.PATH_SEGMENT,
    "rolebindings.rbac.authorization.k8s.io": NameRule.PATH_SEGMENT,
    "clusterroles.rbac.authorization.k8s.io": NameRule.PATH_SEGMENT,
    "clusterrolebindings.rbac.authorization.k8s.io": NameRule.PATH_SEGMENT,
    # Must also equal spec.version + "." + spec.group; that cross-field rule is the caller's.
    "apiservices.apiregistration.k8s.io": NameRule.PATH_SEGMENT,
    # "We don't care what you call your certificate requests."
    "certificatesigningrequests.certificates.k8s.io": NameRule.NONE,
}


def name_rule(group_resource: str) -> NameRule:
    """The name rule for ``resource[.group]``; DNS-1123 subdomain when not listed."""
    return NAME_RULES.get(group_resource, NameRule.DNS1123_SUBDOMAIN)
