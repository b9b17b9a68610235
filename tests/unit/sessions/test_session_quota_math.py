"""Session quota arithmetic: Kubernetes quantities parsed exactly, what a session counts
(by state, resources, template, home), and the quota decision with the numbers in its
message -- known cases, plus properties over generated sessions and limits."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.operators.sessions import common, quotacheck
from pilothouse.operators.sessions import quota as quota_mod
from pilothouse.operators.sessions import session as session_mod

Usage = quotacheck.Usage


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Fraction(1, 2)),
        ("2", Fraction(2)),
        ("0.5", Fraction(1, 2)),
        (".5", Fraction(1, 2)),
        ("1Gi", Fraction(2**30)),
        ("512Mi", Fraction(512 * 2**20)),
        ("1.5Gi", Fraction(3 * 2**29)),
        ("1G", Fraction(10**9)),
        ("1k", Fraction(1000)),
        ("1Ki", Fraction(1024)),
        ("100n", Fraction(1, 10**7)),
        ("1u", Fraction(1, 10**6)),
        ("2e3", Fraction(2000)),
        ("1E", Fraction(10**18)),
        ("1E3", Fraction(1000)),
        ("1e-3", Fraction(1, 1000)),
        ("-1", Fraction(-1)),
        ("+250m", Fraction(1, 4)),
        (3, Fraction(3)),
        (0.25, Fraction(1, 4)),
    ],
)
def test_quantities_parse_exactly(text: str | int | float, value: Fraction) -> None:
    assert quotacheck.parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "m", "1mi", "1 Gi", "Gi", "1.2.3", "1e", "abc", "1e99999"])
def test_malformed_quantities_are_refused(text: str) -> None:
    with pytest.raises(quotacheck.QuantityError, match="not a quantity"):
        quotacheck.parse_quantity(text)


def test_non_quantity_types_are_refused() -> None:
    for value in (True, None, [1]):
        with pytest.raises(quotacheck.QuantityError):
            quotacheck.parse_quantity(value)


@pytest.mark.parametrize(
    ("value", "binary", "text"),
    [
        (Fraction(5, 2), False, "2500m"),
        (Fraction(2), False, "2"),
        (Fraction(0), False, "0"),
        (Fraction(3 * 2**30), True, "3Gi"),
        (Fraction(1536 * 2**20), True, "1536Mi"),
        (Fraction(10**9), True, "1G"),
        (Fraction(1, 3), False, "0.333333"),
    ],
)
def test_format_quantity(value: Fraction, binary: bool, text: str) -> None:
    assert quotacheck.format_quantity(value, binary=binary) == text


SUFFIXES = ["", "m", "k", "M", "G", "Ki", "Mi", "Gi", "n", "u"]


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(SUFFIXES))
def test_parse_of_a_formatted_quantity_is_the_value(n: int, suffix: str) -> None:
    value = quotacheck.parse_quantity(f"{n}{suffix}")
    for binary in (False, True):
        assert quotacheck.parse_quantity(quotacheck.format_quantity(value, binary=binary)) == value


@given(
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=999),
    st.sampled_from(SUFFIXES),
)
def test_decimal_point_and_suffix_scale(whole: int, frac: int, suffix: str) -> None:
    text = f"{whole}.{frac:03d}{suffix}"
    assert quotacheck.parse_quantity(text) == (
        Fraction(whole) + Fraction(frac, 1000)
    ) * quotacheck.parse_quantity(f"1{suffix}")


def spec(**fields: object) -> session_mod.SessionSpec:
    return session_mod.SessionSpec.model_validate({"user": "alice", "image": "img", **fields})


def resources(cpu: str | None = None, memory: str | None = None) -> common.ResourceRequirements:
    requests: dict[str, int | str] = {
        k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None
    }
    return common.ResourceRequirements(requests=requests)


def test_running_sessions_count_their_requests_and_home() -> None:
    s = spec(resources={"requests": {"cpu": "500m", "memory": "1Gi"}}, home={"size": "5Gi"})
    assert quotacheck.session_usage(s, None) == Usage(
        1, Fraction(1, 2), Fraction(2**30), Fraction(5 * 2**30)
    )


def test_limits_count_where_nothing_is_requested() -> None:
    s = spec(resources={"requests": {"cpu": "1"}, "limits": {"cpu": "4", "memory": "2Gi"}})
    assert quotacheck.session_usage(s, None) == Usage(1, Fraction(1), Fraction(2 * 2**30))


def test_hibernated_sessions_count_only_storage_and_terminated_ones_only_kept_homes() -> None:
    res = {"requests": {"cpu": "1", "memory": "1Gi"}}
    hibernated = spec(state="hibernated", resources=res, home={"size": "2Gi"})
    assert quotacheck.session_usage(hibernated, None) == Usage(storage=Fraction(2 * 2**30))
    gone = spec(state="terminated", resources=res, home={"size": "2Gi"})
    assert quotacheck.session_usage(gone, None) == Usage()
    kept = spec(state="terminated", home={"size": "2Gi", "keepOnTerminate": True})
    assert quotacheck.session_usage(kept, None) == Usage(storage=Fraction(2 * 2**30))
    disabled = spec(home={"enabled": False, "size": "2Gi"})
    assert quotacheck.session_usage(disabled, None) == Usage(1)


def test_the_template_resources_count_only_without_the_sessions_own() -> None:
    tmpl = resources("2", "4Gi")
    assert quotacheck.session_usage(spec(), tmpl) == Usage(1, Fraction(2), Fraction(4 * 2**30))
    own = spec(resources={"requests": {"cpu": "250m"}})
    # Whole replacement, as workload.resolve does: no memory from the template.
    assert quotacheck.session_usage(own, tmpl) == Usage(1, Fraction(1, 4))


def test_negative_or_malformed_resources_are_errors() -> None:
    with pytest.raises(quotacheck.QuantityError, match=r"spec.resources.requests.cpu: .*negative"):
        quotacheck.session_usage(spec(resources={"requests": {"cpu": "-1"}}), None)
    with pytest.raises(quotacheck.QuantityError, match=r"spec\.home\.size"):
        quotacheck.session_usage(spec(home={"size": "lots"}), None)


def quotas(**limits: object) -> dict[str, quota_mod.SessionQuotaSpec]:
    return {"team": quota_mod.SessionQuotaSpec.model_validate(limits)}


def test_the_denial_names_limit_usage_and_request() -> None:
    violations = quotacheck.evaluate(
        namespace="ns",
        user="alice",
        new=Usage(1),
        old=Usage(),
        others=[("alice", Usage(1)), ("alice", Usage(1)), ("bob", Usage(1))],
        quotas=quotas(perUser={"sessions": 2}),
    )
    assert [v.message for v in violations] == [
        'user "alice" would use 3 sessions, over the limit of 2 set by SessionQuota "team" '
        "(in use: 2, requested: 1)"
    ]


def test_cpu_memory_and_namespace_limits_in_messages() -> None:
    violations = quotacheck.evaluate(
        namespace="ns",
        user="alice",
        new=Usage(1, Fraction(3, 2), Fraction(2**30)),
        old=Usage(),
        others=[("bob", Usage(1, Fraction(1), Fraction(2**30)))],
        quotas=quotas(perNamespace={"cpu": "2", "memory": "1536Mi", "sessions": 5}),
    )
    assert [v.message for v in violations] == [
        'namespace "ns" would use 2500m CPU, over the limit of 2 set by SessionQuota "team" '
        "(in use: 1, requested: 1500m)",
        'namespace "ns" would use 2Gi of memory, over the limit of 1536Mi set by SessionQuota '
        '"team" (in use: 1Gi, requested: 1Gi)',
    ]


def test_an_update_is_checked_for_what_it_raises_only() -> None:
    q = quotas(perUser={"cpu": "2", "sessions": 1})
    # Raising CPU from 1 to 3: in use counts the session's old CPU, requested the increase.
    raised = quotacheck.evaluate(
        namespace="ns",
        user="alice",
        new=Usage(1, Fraction(3)),
        old=Usage(1, Fraction(1)),
        others=[],
        quotas=q,
    )
    assert [v.message for v in raised] == [
        'user "alice" would use 3 CPU, over the limit of 2 set by SessionQuota "team" '
        "(in use: 1, requested: 2)"
    ]
    # Lowering is allowed even when the user is over a limit already.
    lowered = quotacheck.evaluate(
        namespace="ns",
        user="alice",
        new=Usage(1, Fraction(1, 2)),
        old=Usage(1, Fraction(1)),
        others=[("alice", Usage(1, Fraction(5)))],
        quotas=q,
    )
    assert lowered == []


def test_malformed_limits_are_errors() -> None:
    with pytest.raises(quotacheck.QuantityError, match='SessionQuota "team" limit cpu'):
        quotacheck.evaluate(
            namespace="ns",
            user="a",
            new=Usage(1, Fraction(1)),
            old=Usage(),
            others=[],
            quotas=quotas(perUser={"cpu": "two"}),
        )


usages = st.builds(
    Usage,
    st.integers(min_value=0, max_value=5),
    # Millicores, as Kubernetes rounds CPU to them.
    st.integers(min_value=0, max_value=64_000).map(lambda m: Fraction(m, 1000)),
    st.fractions(min_value=0, max_value=2**40, max_denominator=1),
    st.fractions(min_value=0, max_value=2**40, max_denominator=1),
)
users = st.sampled_from(["alice", "bob", "carol"])


@given(st.lists(st.tuples(users, usages), max_size=8), users, usages)
def test_adding_a_session_never_decreases_usage(
    others: list[tuple[str, Usage]], user: str, added: Usage
) -> None:
    before = sum((u for _, u in others), Usage())
    after = before + added
    for resource in quotacheck.RESOURCES:
        assert after.get(resource) >= before.get(resource)
    assert quotacheck.increase(after, before) == added


def limits_for(resource: str, value: Fraction) -> dict[str, object]:
    if resource == "sessions":
        return {"sessions": int(value)}
    # An exact decimal string: every generated value is a whole number of thousandths.
    return {resource: f"{int(value * 1000)}m"}


@given(
    st.lists(st.tuples(users, usages), max_size=6),
    users,
    usages,
    st.sampled_from(quotacheck.RESOURCES),
    st.sampled_from(["perUser", "perNamespace"]),
    st.integers(min_value=0, max_value=3),
)
def test_within_the_limit_is_allowed_and_over_it_denied_with_the_numbers(
    others: list[tuple[str, Usage]],
    user: str,
    new: Usage,
    resource: quotacheck.Resource,
    scope: str,
    headroom: int,
) -> None:
    mine = [u for who, u in others if scope == "perNamespace" or who == user]
    in_use = sum(mine, Usage()).get(resource)
    requested = new.get(resource)
    total = in_use + requested
    # Limits exactly at the total (allowed), and just below it (denied when requesting).
    at_or_above = total + headroom
    allowed = quotacheck.evaluate(
        namespace="ns",
        user=user,
        new=new,
        old=Usage(),
        others=others,
        quotas=quotas(**{scope: limits_for(resource, at_or_above)}),
    )
    assert allowed == []
    if requested == 0:
        return
    # The largest limit under the total (values are whole units, or millicores of CPU).
    below = total - (Fraction(1, 1000) if resource == "cpu" else 1)
    denied = quotacheck.evaluate(
        namespace="ns",
        user=user,
        new=new,
        old=Usage(),
        others=others,
        quotas=quotas(**{scope: limits_for(resource, below)}),
    )
    assert len(denied) == 1
    v = denied[0]
    assert (v.resource, v.limit, v.in_use, v.requested) == (resource, below, in_use, requested)
    binary = resource in ("memory", "storage")
    fmt = quotacheck.format_quantity
    assert f"over the limit of {fmt(below, binary=binary)}" in v.message
    assert (
        f"(in use: {fmt(in_use, binary=binary)}, requested: {fmt(requested, binary=binary)})"
        in (v.message)
    )
