"""Write and delete options parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.apiserver import errors
from pilothouse.apiserver.rest import options


def test_write_options() -> None:
    o = options.WriteOptions.from_query(
        {"dryRun": "All", "fieldManager": "m", "fieldValidation": "Strict", "force": "true"}
    )
    assert (o.dry_run, o.field_manager, o.field_validation, o.force) == (True, "m", "Strict", True)
    assert options.WriteOptions.from_query({}).field_validation == "Warn"
    for bad in (
        {"dryRun": "Some"},
        {"fieldValidation": "Loose"},
        {"force": "yes"},
        {"fieldManager": "x" * 129},
    ):
        with pytest.raises(errors.ApiError) as exc:
            options.WriteOptions.from_query(bad)
        assert exc.value.code == 400


def test_delete_options() -> None:
    o = options.DeleteOptions.parse(
        {"propagationPolicy": "Foreground", "preconditions": {"uid": "u"}}, {}
    )
    assert o.propagation_policy == "Foreground" and o.precondition_uid == "u"
    assert (
        options.DeleteOptions.parse({"orphanDependents": True}, {}).propagation_policy == "Orphan"
    )
    assert options.DeleteOptions.parse(None, {"gracePeriodSeconds": "0"}).grace_period_seconds == 0
    with pytest.raises(errors.ApiError) as exc:
        options.DeleteOptions.parse({"propagationPolicy": "Sideways"}, {})
    assert exc.value.code == 422
    with pytest.raises(errors.ApiError):
        options.DeleteOptions.parse({"orphanDependents": True, "propagationPolicy": "Orphan"}, {})


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "dryRun",
                "gracePeriodSeconds",
                "propagationPolicy",
                "orphanDependents",
                "preconditions",
            ]
        ),
        st.one_of(
            st.none(),
            st.text(max_size=10),
            st.integers(),
            st.booleans(),
            st.lists(st.text(max_size=5), max_size=2),
        ),
    )
)
def test_delete_options_fuzz(body: dict[str, object]) -> None:
    try:
        options.DeleteOptions.parse(body, {})
    except errors.ApiError as exc:
        assert exc.code in (400, 422)
