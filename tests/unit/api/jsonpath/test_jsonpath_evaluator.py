"""Evaluating the kubectl JSONPath dialect, checked against client-go's own test cases
(``k8s.io/client-go/util/jsonpath/jsonpath_test.go``).

Upstream's inputs are partly Go structs; here they are the equivalent JSON maps, so JSON
output has sorted keys (Go sorts map keys) where upstream shows struct field order.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.api.jsonpath import JsonPathError, parse, parse_template


def render(template: str, data: Any, *, allow_missing: bool = False) -> str:
    return parse_template(template).render(data, allow_missing_keys=allow_missing)


TYPES: dict[str, Any] = {
    "bools": [True, False, True, False],
    "integers": [1, 2, 3, 4],
    "floats": [1.0, 2.2, 3.3, 4.0],
    "strings": ["one", "two", "three", "four"],
    "interfaces": [True, "one", 1, 1.1],
    "maps": [
        {"name": "one", "value": 1},
        {"name": "two", "value": 2.02},
        {"name": "three", "value": 3.03},
        {"name": "four", "value": 4.04},
    ],
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{ .bools }", "[true,false,true,false]"),
        ("{ .bools[0] }", "true"),
        ("{ .bools[-1] }", "false"),
        ("{ .bools[0:2] }", "true false"),
        ("{ .bools[:2] }", "true false"),
        ("{ .bools[:4:2] }", "true true"),
        ("{ .integers }", "[1,2,3,4]"),
        ("{ .integers[-2] }", "3"),
        ("{ .integers[:4:2] }", "1 3"),
        ("{ .floats }", "[1,2.2,3.3,4]"),
        ("{ .floats[0] }", "1"),
        ("{ .floats[-2] }", "3.3"),
        ("{ .floats[:4:2] }", "1 3.3"),
        ("{ .strings }", '["one","two","three","four"]'),
        ("{ .strings[-2] }", "three"),
        ("{ .strings[:4:2] }", "one three"),
        ("{ .interfaces }", '[true,"one",1,1.1]'),
        ("{ .interfaces[0:2] }", "true one"),
        ("{ .interfaces[:4:2] }", "true 1"),
        ("{ .maps[0] }", '{"name":"one","value":1}'),
        ("{ .maps[-2] }", '{"name":"three","value":3.03}'),
        ("{ .maps[::2] }", '{"name":"one","value":1} {"name":"three","value":3.03}'),
        ("{ .maps[1::2] }", '{"name":"two","value":2.02} {"name":"four","value":4.04}'),
    ],
)
def test_types_input(template: str, expected: str) -> None:
    assert render(template, TYPES) == expected


STORE: dict[str, Any] = {
    "Name": "jsonpath",
    "Book": [
        {"Category": "reference", "Author": "Nigel Rees", "Title": "Sayings", "Price": 8.95},
        {"Category": "fiction", "Author": "Evelyn Waugh", "Title": "Sword", "Price": 12.99},
        {"Category": "fiction", "Author": "Herman Melville", "Title": "Moby", "Price": 8.99},
    ],
    "Bicycle": [
        {"Color": "red", "Price": 19.95, "IsNew": True},
        {"Color": "green", "Price": 20.01, "IsNew": False},
    ],
    "Labels": {"engieer": 10, "web/html": 15, "k8s-app": 20},
    "Employees": {"jason": "manager", "dan": "clerk"},
}
RED = '{"Color":"red","IsNew":true,"Price":19.95}'
GREEN = '{"Color":"green","IsNew":false,"Price":20.01}'
MOBY = '{"Author":"Herman Melville","Category":"fiction","Price":8.99,"Title":"Moby"}'


@pytest.mark.parametrize(
    ("template", "data", "expected"),
    [
        ("hello jsonpath", None, "hello jsonpath"),
        ("{..}", [1, 2, 3], "[1,2,3]"),
        ("{[?(@<5)]}", [2, 6, 3, 7], "2 3"),
        ('{"{"}', None, "{"),
        ("{[1,3,4]}", [0, 1, 2, 3, 4], "1 3 4"),
        ("{[0:2]}", ["Monday", "Tudesday"], "Monday Tudesday"),
        ("hello {.Name}", STORE, "hello jsonpath"),
        ("{$.Labels.web/html}", STORE, "15"),
        ("{$.Employees.jason}", STORE, "manager"),
        ("{.Labels.k8s-app}", STORE, "20"),
        ("{.Bicycle[*].Color}", STORE, "red green"),
        ("{.Book[*].Author}", STORE, "Nigel Rees Evelyn Waugh Herman Melville"),
        (
            '{range .Bicycle[*]}{ "{" }{ @.* }{ "} " }{end}',
            STORE,
            "{red 19.95 true} {green 20.01 false} ",
        ),
        ("{..Price}", STORE, "8.95 12.99 8.99 19.95 20.01"),
        ("{...Price}", STORE, "8.95 12.99 8.99 19.95 20.01"),
        ("{.Bicycle}", STORE, f"[{RED},{GREEN}]"),
        ('{range .Bicycle[*]}{ @ }{ " " }{end}', STORE, f"{RED} {GREEN} "),
        ("{.Book[-1:]}", STORE, MOBY),
        ("{..Book[2]}", STORE, MOBY),
        ("{.Bicycle[?(@.IsNew==true)]}", STORE, RED),
    ],
)
def test_store_input(template: str, data: Any, expected: str) -> None:
    assert render(template, data) == expected


@pytest.mark.parametrize(
    ("template", "expected"), [("{.hello}", ""), ("before-{.hello}after", "before-after")]
)
def test_missing_keys_allowed(template: str, expected: str) -> None:
    assert render(template, STORE, allow_missing=True) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{hello}", "unrecognized identifier hello"),
        ("{.hello}", "hello is not found"),
        ("{.Labels[0]}", "map[string]interface {} is not array or slice"),
        ("{.Book[?(@.Price<>10)]}", "unrecognized filter operator <>"),
        ("{range .Labels.*}{@}{end}{end}", "not in range, nothing to end"),
    ],
)
def test_evaluation_errors(template: str, message: str) -> None:
    with pytest.raises(JsonPathError) as err:
        render(template, STORE)
    assert str(err.value) == message


POINTS = json.loads(
    """[{"id": "i1", "x":4, "y":-5}, {"id": "i2", "x":-2, "y":-5, "z":1},
        {"id": "i3", "x":  8, "y":  3 }, {"id": "i4", "x": -6, "y": -1 },
        {"id": "i5", "x":  0, "y":  2, "z": 1 }, {"id": "i6", "x":  1, "y":  4 }]"""
)


def test_exists_filter_and_bracket_key() -> None:
    assert render("{[?(@.z)].id}", POINTS) == "i2 i5"
    assert render("{[0]['id']}", POINTS) == "i1"


NODES: dict[str, Any] = {
    "kind": "List",
    "items": [
        {
            "kind": "None",
            "metadata": {"name": "127.0.0.1", "labels": {"kubernetes.io/hostname": "127.0.0.1"}},
            "status": {
                "capacity": {"cpu": "4"},
                "ready": True,
                "addresses": [{"type": "LegacyHostIP", "address": "127.0.0.1"}],
            },
        },
        {
            "kind": "None",
            "metadata": {"name": "127.0.0.2", "labels": {"kubernetes.io/hostname": "127.0.0.2"}},
            "status": {
                "capacity": {"cpu": "8"},
                "ready": False,
                "addresses": [
                    {"type": "LegacyHostIP", "address": "127.0.0.2"},
                    {"type": "another", "address": "127.0.0.3"},
                ],
            },
        },
    ],
    "users": [
        {"name": "myself", "user": {}},
        {"name": "e2e", "user": {"username": "admin", "password": "secret"}},
    ],
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{range .items[*]}{.metadata.name}, {end}{.kind}", "127.0.0.1, 127.0.0.2, List"),
        ('{range .items[*]}{.metadata.name}{"\\t"}{end}', "127.0.0.1\t127.0.0.2\t"),
        ("{.items[*].status.addresses[*].address}", "127.0.0.1 127.0.0.2 127.0.0.3"),
        (
            "{range .items[*]}{range .status.addresses[*]}{.address}, {end}{end}",
            "127.0.0.1, 127.0.0.2, 127.0.0.3, ",
        ),
        ("{.items[*].metadata.name}", "127.0.0.1 127.0.0.2"),
        (
            "{.items[*]['metadata.name', 'status.capacity']}",
            '127.0.0.1 127.0.0.2 {"cpu":"4"} {"cpu":"8"}',
        ),
        (
            "{range .items[*]}[{.metadata.name}, {.status.capacity}] {end}",
            '[127.0.0.1, {"cpu":"4"}] [127.0.0.2, {"cpu":"8"}] ',
        ),
        ('{.users[?(@.name=="e2e")].user.password}', "secret"),
        ("{.items[0].metadata.labels.kubernetes\\.io/hostname}", "127.0.0.1"),
        ('{.items[?(@.metadata.labels.kubernetes\\.io/hostname=="127.0.0.1")].kind}', "None"),
        ("{.items[?(@..ready==true)].metadata.name}", "127.0.0.1"),
    ],
)
def test_kubernetes_use_cases(template: str, expected: str) -> None:
    assert render(template, NODES) == expected


def test_recursive_name() -> None:
    assert sorted(render("{..name}", NODES).split()) == sorted(
        ["127.0.0.1", "127.0.0.2", "myself", "e2e"]
    )


def test_empty_ranges() -> None:
    empty: dict[str, Any] = {"items": []}
    assert render("{range .items[*]}{.metadata.name}{end}", empty, allow_missing=True) == ""
    nested = (
        '{range .items[*]}{.metadata.name}{":"}{range @.spec.containers[*]}{.name}{","}{end}'
        '{"+"}{end}'
    )
    assert render(nested, empty, allow_missing=True) == ""


def _pod(name: str, containers: list[str]) -> dict[str, Any]:
    another = [{"name": "value1"}, {"name": "value2"}]
    spec = {"containers": [{"name": c, "another": another} for c in containers]}
    return {"metadata": {"name": name}, "spec": spec}


PODS = {"items": [_pod("pod1", ["foo", "bar"]), _pod("pod2", ["baz"])]}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            '{range .items[*]}{.metadata.name}{":"}{range @.spec.containers[*]}{.name}{","}'
            '{end}{"+"}{end}',
            "pod1:foo,bar,+pod2:baz,+",
        ),
        (
            '{range .items[*]}{.metadata.name}{"~"}{range @.spec.containers[*]}{.name}{":"}'
            '{range @.another[*]}{.name}{","}{end}{"+"}{end}{"#"}{end}',
            "pod1~foo:value1,value2,+bar:value1,value2,+#pod2~baz:value1,value2,+#",
        ),
        (
            '{range .items[*]}{.metadata.name}{"\\t"}{range @.spec.containers[*]}{.name}{" "}'
            '{end}{"\\t"}{range @.spec.containers[*]}{.name}{" "}{end}{"\\n"}{end}',
            "pod1\tfoo bar \tfoo bar \npod2\tbaz \tbaz \n",
        ),
    ],
)
def test_nested_ranges(template: str, expected: str) -> None:
    assert render(template, PODS) == expected


def test_filter_with_partially_missing_annotations() -> None:
    data = {
        "items": [
            {"metadata": {"name": "pod1", "annotations": {"color": "blue"}}},
            {"metadata": {"name": "pod2"}},
            {"metadata": {"name": "pod3", "annotations": {"color": "green"}}},
            {"metadata": {"name": "pod4", "annotations": {"color": "blue"}}},
        ]
    }
    template = '{.items[?(@.metadata.annotations.color=="blue")].metadata.name}'
    assert render(template, data, allow_missing=True) == "pod1 pod4"
    with pytest.raises(JsonPathError):
        render(template, data)


CONTAINERS = {"spec": {"containers": [{"name": f"fake{i}"} for i in range(4)]}}


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        ("0", "fake0"),
        ("0:0", ""),
        ("0:-1", "fake0 fake1 fake2"),
        ("-1", "fake3"),
        ("-1:", "fake3"),
        ("-2", "fake2"),
        ("-2:", "fake2 fake3"),
        ("-3", "fake1"),
        ("-4", "fake0"),
        ("-4:", "fake0 fake1 fake2 fake3"),
        ("5:5", ""),
        ("-5:-5", ""),
    ],
)
def test_negative_index(index: str, expected: str) -> None:
    assert render(f"{{.spec.containers[{index}].name}}", CONTAINERS) == expected


@pytest.mark.parametrize("index", ["-1:0", "-5", "3:1", "-1:-2", "0:6:0", "0:6:-1", "4"])
def test_bad_index_is_an_error(index: str) -> None:
    with pytest.raises(JsonPathError):
        render(f"{{.spec.containers[{index}].name}}", CONTAINERS)


def test_running_pods_filter_without_at() -> None:
    data = {
        "items": [
            {"metadata": {"name": f"pod{i}"}, "status": {"phase": "Running"}} for i in (1, 2, 3)
        ]
        + [{"resourceVersion": ""}]
    }
    template = '{range .items[?(.status.phase=="Running")]}{.metadata.name}{" is Running\\n"}{end}'
    expected = "pod1 is Running\npod2 is Running\npod3 is Running\n"
    assert render(template, data, allow_missing=True) == expected


SIX = {"spec": {"containers": [{"name": f"fake{i}"} for i in range(6)]}}


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        ("0:", "fake0 fake1 fake2 fake3 fake4 fake5"),
        ("0:6:", "fake0 fake1 fake2 fake3 fake4 fake5"),
        ("0:6:1", "fake0 fake1 fake2 fake3 fake4 fake5"),
        ("1:4:2", "fake1 fake3"),
        ("1:4:3", "fake1"),
        ("1:4:4", "fake1"),
        ("0:6:2", "fake0 fake2 fake4"),
        ("0:6:3", "fake0 fake3"),
        ("0:6:5", "fake0 fake5"),
        ("0:6:6", "fake0"),
    ],
)
def test_step(index: str, expected: str) -> None:
    assert render(f"{{.spec.containers[{index}].name}}", SIX) == expected


_ALPHABET = st.sampled_from(list("{}[]().,:*?@$'\"\\=<>!~-+0123456789 abcxyz_\t\n\r/é"))
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=10,
)


@given(st.text(_ALPHABET, max_size=30), _JSON, st.booleans())
def test_evaluation_raises_only_jsonpath_errors(text: str, data: Any, allow: bool) -> None:
    try:
        path = parse(text)
    except JsonPathError:
        return
    with contextlib.suppress(JsonPathError):
        path.render(data, allow_missing_keys=allow)
