"""Predicates filter events by what changed; combinators compose them."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pilothouse.runtime import predicate as p


def obj(gen: int = 1, labels: dict[str, str] | None = None, rv: str = "1", **ann: str) -> Any:
    return {
        "metadata": {
            "name": "a",
            "generation": gen,
            "labels": labels or {},
            "annotations": dict(ann),
            "resourceVersion": rv,
        }
    }


def test_generation_changed_passes_spec_edits_only() -> None:
    g = p.GenerationChanged()
    assert g.create(obj()) and g.delete(obj())
    assert g.update(obj(1), obj(2))
    assert not g.update(obj(1, rv="1"), obj(1, rv="2"))  # a status write


def test_labels_annotations_and_resource_version_changed() -> None:
    assert p.LabelsChanged().update(obj(labels={"a": "1"}), obj(labels={"a": "2"}))
    assert not p.LabelsChanged().update(obj(labels={"a": "1"}), obj(labels={"a": "1"}, rv="2"))
    assert p.AnnotationsChanged().update(obj(x="1"), obj(x="2"))
    assert not p.AnnotationsChanged().update(obj(x="1"), obj(x="1", rv="9"))
    assert p.ResourceVersionChanged().update(obj(rv="1"), obj(rv="2"))
    assert not p.ResourceVersionChanged().update(obj(rv="1"), obj(rv="1"))


def test_missing_metadata_is_no_change_and_no_crash() -> None:
    assert not p.LabelsChanged().update({}, {"metadata": None})
    assert not p.GenerationChanged().update({}, {})


def test_custom_predicates_from_functions() -> None:
    only_b = p.matching(lambda o: o["metadata"]["name"] == "b")
    assert not only_b.create(obj()) and not only_b.update(obj(), obj())
    no_deletes = p.Funcs(on_delete=lambda o: False)
    assert no_deletes.create(obj()) and no_deletes.update(obj(), obj())
    assert not no_deletes.delete(obj())


def test_combinators() -> None:
    gen, labels = p.GenerationChanged(), p.LabelsChanged()
    either = p.or_(gen, labels)
    both = p.and_(gen, labels)
    neither = p.not_(either)
    old, new = obj(1, {"a": "1"}), obj(2, {"a": "1"})
    assert either.update(old, new) and not both.update(old, new) and not neither.update(old, new)
    assert both.update(obj(1, {"a": "1"}), obj(2, {"a": "2"}))
    assert neither.update(obj(1), obj(1, rv="2"))
    assert not neither.create(obj())  # creates pass both, so not(or) refuses them


@given(st.integers(0, 5), st.integers(0, 5), st.booleans(), st.booleans())
def test_combinators_follow_boolean_algebra(g1: int, g2: int, l1: bool, l2: bool) -> None:
    old = obj(g1, {"x": "1"} if l1 else {})
    new = obj(g2, {"x": "1"} if l2 else {})
    gen, labels = p.GenerationChanged(), p.LabelsChanged()
    a, b = gen.update(old, new), labels.update(old, new)
    assert p.and_(gen, labels).update(old, new) == (a and b)
    assert p.or_(gen, labels).update(old, new) == (a or b)
    assert p.not_(p.and_(gen, labels)).update(old, new) == (not (a and b))
    assert p.and_().update(old, new) and not p.or_().update(old, new)
