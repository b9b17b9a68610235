"""metav1.Condition handling: transitions, validation, and the Ready rollup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.runtime import conditions as c

T0 = datetime(2024, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5, microseconds=123456)


def test_new_condition_is_added_with_second_precision_timestamp() -> None:
    conds: list[dict[str, Any]] = []
    assert c.set_condition(conds, "Ready", False, "Creating", "waiting", 3, now=T1) is True
    assert conds == [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Creating",
            "message": "waiting",
            "observedGeneration": 3,
            "lastTransitionTime": "2024-01-01T00:05:00Z",
        }
    ]


def test_transition_time_changes_only_with_status() -> None:
    conds: list[dict[str, Any]] = []
    c.set_condition(conds, "Ready", "False", "Creating", "a", 1, now=T0)
    # reason, message and generation change: recorded, transition time kept
    assert c.set_condition(conds, "Ready", "False", "Scaling", "b", 2, now=T1) is True
    cond = c.find_condition(conds, "Ready")
    assert cond is not None
    assert (cond["reason"], cond["message"], cond["observedGeneration"]) == ("Scaling", "b", 2)
    assert cond["lastTransitionTime"] == "2024-01-01T00:00:00Z"
    # nothing changes: False, so the caller can skip the status write
    assert c.set_condition(conds, "Ready", "False", "Scaling", "b", 2, now=T1) is False
    # status changes: new transition time
    assert c.set_condition(conds, "Ready", True, "Available", "", 2, now=T1) is True
    assert cond["lastTransitionTime"] == "2024-01-01T00:05:00Z"
    assert len(conds) == 1


def test_observed_generation_none_keeps_existing() -> None:
    conds: list[dict[str, Any]] = []
    c.set_condition(conds, "Ready", True, "Ok", observed_generation=7, now=T0)
    assert c.set_condition(conds, "Ready", True, "Ok", now=T1) is False
    assert conds[0]["observedGeneration"] == 7


def test_predicates_and_removal() -> None:
    conds: list[dict[str, Any]] = []
    c.set_condition(conds, "Ready", True, "Ok", now=T0)
    c.set_condition(conds, "Degraded", False, "Fine", now=T0)
    c.set_condition(conds, "Progressing", "Unknown", "Waiting", now=T0)
    assert c.is_true(conds, "Ready") and not c.is_false(conds, "Ready")
    assert c.is_false(conds, "Degraded") and not c.is_true(conds, "Degraded")
    assert c.is_unknown(conds, "Progressing")
    assert c.is_unknown(conds, "Missing")  # absent counts as Unknown, as in apimachinery
    assert not c.is_true(None, "Ready")
    assert c.remove_condition(conds, "Degraded") is True
    assert c.remove_condition(conds, "Degraded") is False
    assert [x["type"] for x in conds] == ["Ready", "Progressing"]


@pytest.mark.parametrize(
    "reason", ["A", "Ready", "Not_Ready", "Has:Colon,Comma_", "X1", "under_score_"]
)
def test_valid_reasons(reason: str) -> None:
    assert c.set_condition([], "Ready", True, reason, now=T0)


@pytest.mark.parametrize(
    "reason", ["", "1Start", "ends,", "ends:", "has space", "dash-ed", "a" * 1025]
)
def test_invalid_reasons(reason: str) -> None:
    with pytest.raises(c.ConditionError, match="reason"):
        c.set_condition([], "Ready", True, reason, now=T0)


@pytest.mark.parametrize("ctype", ["", "bad type", "a/b/c", "-Ready"])
def test_invalid_types(ctype: str) -> None:
    with pytest.raises(c.ConditionError, match="type"):
        c.set_condition([], ctype, True, "Ok", now=T0)


def test_domain_qualified_type_is_valid() -> None:
    assert c.set_condition([], "example.com/Ready", True, "Ok", now=T0)


def test_other_validation() -> None:
    with pytest.raises(c.ConditionError, match="status"):
        c.set_condition([], "Ready", "Yes", "Ok", now=T0)
    with pytest.raises(c.ConditionError, match="observedGeneration"):
        c.set_condition([], "Ready", True, "Ok", observed_generation=-1, now=T0)
    with pytest.raises(c.ConditionError, match="message"):
        c.set_condition([], "Ready", True, "Ok", "m" * 32769, now=T0)
    with pytest.raises(c.ConditionError, match="timezone"):
        c.set_condition([], "Ready", True, "Ok", now=datetime(2024, 1, 1))


def test_format_time_converts_to_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    assert c.format_time(datetime(2024, 1, 1, 2, 0, 0, 999999, tzinfo=plus2)) == (
        "2024-01-01T00:00:00Z"
    )


def test_default_now_is_current_time() -> None:
    conds: list[dict[str, Any]] = []
    before = datetime.now(UTC).replace(microsecond=0)
    c.set_condition(conds, "Ready", True, "Ok")
    stamp = datetime.strptime(conds[0]["lastTransitionTime"], "%Y-%m-%dT%H:%M:%SZ")
    assert stamp.replace(tzinfo=UTC) >= before


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["True", "False", "Unknown"]),
            st.sampled_from(["A", "B"]),
            st.integers(0, 3),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_transition_time_moves_exactly_when_status_changes(
    steps: list[tuple[str, str, int]],
) -> None:
    conds: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for i, (status, reason, gen) in enumerate(steps):
        now = T0 + timedelta(seconds=i)
        before = dict(previous) if previous else None
        changed = c.set_condition(conds, "Ready", status, reason, "", gen, now=now)
        cond = conds[0]
        if before is None:
            assert changed and cond["lastTransitionTime"] == c.format_time(now)
        else:
            moved = cond["lastTransitionTime"] != before["lastTransitionTime"]
            assert moved == (before["status"] != status)
            assert changed == (before != cond)
        previous = cond


# -- ConditionSet -------------------------------------------------------------------------

READY = c.ConditionSet("Ready", ["DeploymentReady", "ServiceReady"])


def test_initialize_adds_unknowns() -> None:
    conds: list[dict[str, Any]] = []
    m = READY.manage(conds, 1, now=T0)
    m.initialize()
    assert m.changed
    assert {x["type"]: x["status"] for x in conds} == {
        "Ready": "Unknown",
        "DeploymentReady": "Unknown",
        "ServiceReady": "Unknown",
    }
    again = READY.manage(conds, 1, now=T1)
    again.initialize()
    assert not again.changed


def test_ready_only_when_every_dependent_is_true() -> None:
    conds: list[dict[str, Any]] = []
    m = READY.manage(conds, 1, now=T0)
    m.initialize()
    m.mark_true("DeploymentReady")
    assert not m.is_happy()
    m.mark_true("ServiceReady")
    assert m.is_happy()
    happy = m.happy_condition()
    assert happy is not None and happy["reason"] == "AsExpected"


def test_false_dependent_wins_and_carries_its_reason() -> None:
    conds: list[dict[str, Any]] = []
    m = READY.manage(conds, 1, now=T0)
    m.mark_true("DeploymentReady")
    m.mark_true("ServiceReady")
    m.mark_false("ServiceReady", "NoEndpoints", "no ready pods")
    happy = m.happy_condition()
    assert happy is not None
    assert (happy["status"], happy["reason"], happy["message"]) == (
        "False",
        "NoEndpoints",
        "no ready pods",
    )
    # Unknown elsewhere does not hide the failure.
    m.mark_unknown("DeploymentReady", "Rolling", "rolling out")
    assert c.is_false(conds, "Ready")
    assert c.find_condition(conds, "Ready")["reason"] == "NoEndpoints"  # type: ignore[index]
    # Once the failure clears, Unknown shows through...
    m.mark_unknown("ServiceReady", "Waiting", "")
    assert c.is_unknown(conds, "Ready")
    # ... and all True makes Ready True again.
    m.mark_true("ServiceReady")
    m.mark_true("DeploymentReady")
    assert m.is_happy()


def test_non_dependent_conditions_do_not_touch_ready() -> None:
    conds: list[dict[str, Any]] = []
    m = READY.manage(conds, 1, now=T0)
    m.mark_true("DeploymentReady")
    m.mark_true("ServiceReady")
    m.mark_false("Backup", "Failed", "")
    m.mark_unknown("Backup", "Retrying", "")
    assert m.is_happy()


def test_happy_cannot_depend_on_itself() -> None:
    with pytest.raises(ValueError):
        c.ConditionSet("Ready", ["Ready"])
