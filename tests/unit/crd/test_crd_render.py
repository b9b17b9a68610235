"""crd.render_yaml: one document per CRD, grouped and ordered deterministically."""

from __future__ import annotations

import pytest
import yaml

from pilothouse import crd


class Spec(crd.Model):
    size: int = 1
    """The size.

    Second paragraph of the description."""


class ZooV1(crd.CustomResource, group="b.example.com", version="v1", kind="Zoo"):
    spec: Spec


class ZooV2(crd.CustomResource, group="b.example.com", version="v2", kind="Zoo", storage=False):
    spec: Spec


class Ant(crd.CustomResource, group="b.example.com", version="v1", kind="Ant"):
    spec: Spec


class Yak(crd.CustomResource, group="a.example.com", version="v1", kind="Yak", scope="Cluster"):
    spec: Spec


def test_one_document_per_crd_sorted_by_group_then_kind() -> None:
    text = crd.render_yaml([ZooV2, Ant, ZooV1, Yak])
    docs = list(yaml.safe_load_all(text))
    assert [d["metadata"]["name"] for d in docs] == [
        "yaks.a.example.com",
        "ants.b.example.com",
        "zoos.b.example.com",
    ]
    assert docs[2] == crd.definition(ZooV1, ZooV2)
    assert text.startswith("---\napiVersion: apiextensions.k8s.io/v1\n")
    assert text.count("\n---\n") == 2


def test_output_is_deterministic() -> None:
    assert crd.render_yaml([ZooV2, Ant, ZooV1, Yak]) == crd.render_yaml([Yak, ZooV1, Ant, ZooV2])


def test_multi_line_descriptions_are_literal_blocks() -> None:
    text = crd.render_yaml([Ant])
    assert "description: |-\n" in text and "  Second paragraph of the description.\n" in text


def test_no_models_no_documents() -> None:
    assert crd.render_yaml([]) == ""


def test_conversions_by_crd_name() -> None:
    hook = crd.Webhook(url="https://conv.example.com/convert")
    text = crd.render_yaml([ZooV1, ZooV2, Ant], conversions={"zoos.b.example.com": hook})
    docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(text)}
    assert docs["zoos.b.example.com"]["spec"]["conversion"]["strategy"] == "Webhook"
    assert "conversion" not in docs["ants.b.example.com"]["spec"]


def test_conversions_for_unknown_crds_are_an_error() -> None:
    hook = crd.Webhook(url="https://conv.example.com/convert")
    with pytest.raises(crd.CRDError, match=r"conversions for unknown CRDs: zoo\.b\.example\.com"):
        crd.render_yaml([Ant], conversions={"zoo.b.example.com": hook})
