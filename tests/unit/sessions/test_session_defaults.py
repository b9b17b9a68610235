"""Session defaulting: namespace annotations, the template's resources, the static state
default, and the precedence between them (the session's own values always win)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pilothouse.operators.sessions import defaults
from pilothouse.operators.sessions import template as template_mod

TEMPLATE = template_mod.SessionTemplateSpec.model_validate(
    {
        "image": "jupyter:1",
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
        "env": [{"name": "A", "value": "template"}],
    }
)
NS = defaults.NamespaceDefaults(template="jupyter", max_session_duration="8h")


def test_namespace_annotations_are_read() -> None:
    ns = defaults.NamespaceDefaults.from_annotations(
        {
            defaults.ANNOTATION_DEFAULT_TEMPLATE: "jupyter",
            defaults.ANNOTATION_DEFAULT_MAX_SESSION_DURATION: "1h30m",
            "unrelated": "x",
        }
    )
    assert ns == defaults.NamespaceDefaults("jupyter", "1h30m")
    assert defaults.NamespaceDefaults.from_annotations(None) == defaults.NamespaceDefaults()


def test_a_malformed_namespace_duration_is_ignored_with_a_warning() -> None:
    ns = defaults.NamespaceDefaults.from_annotations(
        {defaults.ANNOTATION_DEFAULT_MAX_SESSION_DURATION: "a while"}
    )
    assert ns.max_session_duration is None
    assert ns.warnings == (
        "namespace annotation sessions.pilothouse.dev/default-max-session-duration="
        "'a while' is not a Go duration; ignored",
    )


def test_an_empty_session_gets_every_default() -> None:
    out = defaults.apply({"user": "alice"}, NS, TEMPLATE)
    assert out == {
        "user": "alice",
        "template": "jupyter",
        "maxSessionDuration": "8h",
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
        "state": "running",
    }


def test_the_sessions_own_values_win() -> None:
    own: dict[str, Any] = {
        "user": "alice",
        "template": "mine",
        "maxSessionDuration": "1h",
        "resources": {"limits": {"cpu": "1"}},
        "state": "hibernated",
        "env": [{"name": "A", "value": "own"}],
    }
    out = defaults.apply(own, NS, TEMPLATE)
    assert out == own
    assert out is not own  # a copy: the webhook's patch is computed against the original


def test_an_image_without_template_does_not_take_the_namespace_template() -> None:
    assert defaults.template_to_use({"image": "x"}, NS) is None
    assert defaults.template_to_use({"template": "t"}, NS) == "t"
    assert defaults.template_to_use({}, NS) == "jupyter"
    assert defaults.template_to_use({}, defaults.NamespaceDefaults()) is None
    out = defaults.apply({"user": "a", "image": "x"}, NS, None)
    assert "template" not in out


def test_image_and_env_stay_with_the_template() -> None:
    # Resolved at reconcile time, so that editing the template rolls them out.
    out = defaults.apply(
        {"user": "a", "template": "jupyter"}, defaults.NamespaceDefaults(), TEMPLATE
    )
    assert "image" not in out and "env" not in out


def test_a_missing_template_or_one_without_resources_adds_none() -> None:
    bare = template_mod.SessionTemplateSpec(image="x")
    assert "resources" not in defaults.apply({"user": "a"}, NS, None)
    assert "resources" not in defaults.apply({"user": "a"}, NS, bare)


spec_keys = st.fixed_dictionaries(
    {},
    optional={
        "template": st.sampled_from(["t1", "t2"]),
        "image": st.sampled_from(["img:1"]),
        "maxSessionDuration": st.sampled_from(["1h", "90m"]),
        "resources": st.just({"requests": {"cpu": "2"}}),
        "state": st.sampled_from(["running", "hibernated", "terminated"]),
    },
)


@given(spec_keys, st.booleans(), st.booleans())
def test_defaulting_keeps_what_is_set_and_is_idempotent(
    spec: dict[str, Any], with_ns: bool, with_template: bool
) -> None:
    ns = NS if with_ns else defaults.NamespaceDefaults()
    tmpl = TEMPLATE if with_template else None
    once = defaults.apply({"user": "u", **spec}, ns, tmpl)
    for key, value in spec.items():
        assert once[key] == value
    assert defaults.apply(once, ns, tmpl) == once
    assert once["state"] in ("running", "hibernated", "terminated")
