"""Default plurals, kube's version priority order, and the name rules applied up front."""

from __future__ import annotations

import pytest

from pilothouse import crd
from pilothouse.crd.names import check_names, version_sort_key


@pytest.mark.parametrize(
    ("kind", "plural"),
    [
        ("Widget", "widgets"),
        ("Policy", "policies"),  # consonant + y
        ("Gateway", "gateways"),  # vowel + y
        ("Ingress", "ingresses"),
        ("Status", "statuses"),
        ("Bus", "buses"),
        ("Box", "boxes"),
        ("Quiz", "quizes"),  # as gengo and kube-rs: no doubling
        ("Patch", "patches"),
        ("Mesh", "meshes"),
        ("Day", "days"),
        ("Y", "ys"),
        ("ClusterIssuer", "clusterissuers"),
    ],
)
def test_plurals_follow_kubes_generators(kind: str, plural: str) -> None:
    assert crd.plural_of(kind) == plural


def test_versions_sort_in_kube_priority_order() -> None:
    versions = ["v1alpha1", "foo", "v1", "v2beta1", "v1beta2", "v10", "v2", "bar", "v1beta1"]
    assert sorted(versions, key=version_sort_key) == [
        "v10", "v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "bar", "foo",
    ]  # fmt: skip


def _names(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "group": "example.com",
        "version": "v1",
        "kind": "Widget",
        "plural": "widgets",
        "singular": "widget",
        "short_names": ("wd",),
        "categories": ("all",),
    }
    return base | overrides


def test_valid_names_pass() -> None:
    check_names(**_names())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"group": "example"}, "at least one dot"),
        ({"group": "Example.com"}, "invalid group"),
        ({"version": "1"}, "invalid version"),
        ({"version": "v1.0"}, "invalid version"),
        ({"kind": "widget"}, "CamelCase"),
        ({"kind": "Wid_get"}, "invalid kind"),
        ({"plural": "Widgets"}, "invalid plural"),
        ({"singular": "wid get"}, "invalid singular"),
        ({"short_names": ("w d",)}, "invalid short name"),
        ({"categories": ("All",)}, "invalid category"),
        ({"group": "a" * 250 + ".com"}, "invalid group"),
    ],
)
def test_invalid_names_are_rejected_with_the_reason(
    override: dict[str, object], message: str
) -> None:
    with pytest.raises(crd.CRDError, match=message):
        check_names(**_names(**override))  # type: ignore[arg-type]
