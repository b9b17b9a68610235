"""All CRDs of an operator as one multi-document YAML stream: :func:`render_yaml`.

This is what ``pilothouse crds`` prints for ``kubectl apply -f -``. The output is
deterministic -- CRDs sorted by group then kind, versions in kube's priority order, schema
keys in a fixed order -- so it can be committed and diffed. Multi-line descriptions are
written as literal blocks for readability.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import yaml

from .definition import definition
from .errors import CRDError
from .options import Webhook

if TYPE_CHECKING:
    from .model import CustomResource

__all__ = ["render_yaml"]


class _Dumper(yaml.SafeDumper):
    """Safe dumping, with multi-line strings as ``|`` blocks and indented lists."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Lists indented under their key, as kubectl and controller-gen write them.
        super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render_yaml(
    models: Iterable[type[CustomResource]],
    *,
    conversions: Mapping[str, Webhook] | None = None,
) -> str:
    """One YAML document per CRD, each starting with ``---``; empty for no models.

    ``models`` may list the versions of several kinds in any order: they are grouped by
    group and kind, one CRD each (see :func:`~pilothouse.crd.definition`). ``conversions``
    maps a CRD name (``widgets.example.com``) to its conversion webhook.
    """
    grouped: dict[tuple[str, str], list[type[CustomResource]]] = {}
    for model in models:
        o = model.crd_options()
        grouped.setdefault((o.group, o.kind), []).append(model)
    conversions = dict(conversions or {})
    docs: list[dict[str, Any]] = []
    for key in sorted(grouped):
        name = grouped[key][0].crd_options().crd_name
        docs.append(definition(*grouped[key], conversion=conversions.pop(name, None)))
    if conversions:
        raise CRDError(f"conversions for unknown CRDs: {', '.join(sorted(conversions))}")
    return yaml.dump_all(
        docs, Dumper=_Dumper, explicit_start=True, sort_keys=False, width=100, allow_unicode=True
    )
