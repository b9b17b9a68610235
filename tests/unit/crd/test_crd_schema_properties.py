"""Property tests: for generated model shapes, the schema is structural or a SchemaError.

The oracle is the embedded API server's own CRD schema check (the structural invariants,
the defaults check and the OpenAPI restrictions kube-apiserver applies), plus an
independent walk asserting no ``$ref`` survives and every node has a type. Where the shape
has a default value, the server's pruning, validation and defaulting must also agree with
pydantic on it: nothing pruned, nothing rejected, and defaulting changes nothing pydantic
would not fill in itself.
"""

from __future__ import annotations

import copy
import datetime
import enum
import itertools
from collections.abc import Iterator, Mapping
from types import GenericAlias
from typing import Annotated, Any, Literal

import pydantic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, TypeAdapter

from pilothouse import crd
from pilothouse.apiserver.schemas import SchemaNode
from pilothouse.apiserver.structural.crd_schema_check import check_structural
from pilothouse.apiserver.structural.defaulting import apply_defaults
from pilothouse.apiserver.structural.pruning import prune
from pilothouse.apiserver.structural.validate import validate

_names = itertools.count()


class Shade(enum.Enum):
    LIGHT = "light"
    DARK = "dark"


#: (type, a valid default) pairs for the leaves.
LEAVES: list[tuple[Any, Any]] = [
    (int, 3),
    (str, "s"),
    (float, 1.5),
    (bool, True),
    (datetime.datetime, datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)),
    (Literal["a", "b"], "a"),
    (Literal["only"], "only"),
    (Shade, Shade.DARK),
    (crd.IntOrString, "50%"),
    (int | str, 4),
    (Annotated[int, Field(ge=0, lt=10)], 5),
    (Annotated[str, Field(min_length=1, max_length=8, pattern="^[a-z]+$")], "abc"),
    (Annotated[float, Field(gt=0)], 0.5),
    (Any, None),
    (crd.PreserveUnknownFields, {"x": [1]}),
    (set[str], {"a"}),
]

Shape = tuple[Any, Any]  # (type, default or ... for required)


def _model(fields: list[tuple[str, Shape]], camel: bool, rule: bool) -> Shape:
    base: type[BaseModel] = crd.Model if camel else BaseModel
    definitions: dict[str, Any] = {
        name: (tp, default if default is not ... else ...) for name, (tp, default) in fields
    }
    model = pydantic.create_model(f"Gen{next(_names)}", __base__=base, **definitions)
    if rule:
        model = crd.validations("true", message="always")(model)
    try:
        return model, model()
    except pydantic.ValidationError:
        return model, ...


def _extend(children: st.SearchStrategy[Shape]) -> st.SearchStrategy[Shape]:
    field_names = st.from_regex(r"x[a-z0-9_]{0,6}[a-z0-9]", fullmatch=True)
    fields = st.lists(
        st.tuples(field_names, children), min_size=1, max_size=4, unique_by=lambda f: f[0]
    )
    return st.one_of(
        children.map(lambda c: (GenericAlias(list, (c[0],)), [c[1]] if c[1] is not ... else [])),
        children.map(lambda c: (GenericAlias(dict, (str, c[0])), {})),
        children.map(lambda c: (c[0] | None, None)),
        children.map(lambda c: (Annotated[c[0], crd.validations("true")], c[1])),
        st.builds(_model, fields, st.booleans(), st.booleans()),
        # The same model twice: its definition is referenced twice.
        st.builds(
            lambda c, camel: _model([("xa", c), ("xb", c)], camel, False), children, st.booleans()
        ),
        # Unions: either expressible (then structural) or a SchemaError.
        st.tuples(children, children).map(lambda p: (p[0][0] | p[1][0], ...)),
    )


shapes = st.recursive(st.sampled_from(LEAVES), _extend, max_leaves=12)


def _nodes(schema: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), Mapping):
        yield from _nodes(schema["items"], f"{path}[*]")
    if isinstance(schema.get("additionalProperties"), Mapping):
        yield from _nodes(schema["additionalProperties"], f"{path}{{*}}")


def _assert_structural(schema: Mapping[str, Any]) -> None:
    text = repr(schema)
    assert "$ref" not in text and "$defs" not in text and "'title'" not in text
    for path, node in _nodes(schema):
        typeless = node.get("x-kubernetes-int-or-string") or node.get(
            "x-kubernetes-preserve-unknown-fields"
        )
        assert node.get("type") or typeless, f"{path} has no type: {node}"
        assert node.get("type") != "array" or "items" in node, path
        assert "uniqueItems" not in node and "const" not in node, path
        assert not {"anyOf", "oneOf", "allOf", "not"} & set(node), path


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec=shapes, status=st.booleans())
def test_generated_shapes_are_structural_or_rejected_clearly(spec: Shape, status: bool) -> None:
    fields: dict[str, Any] = {"spec": (spec[0], ...)}
    if status:
        fields["status"] = (spec[0] | None, None)
    try:
        resource = pydantic.create_model(
            f"Res{next(_names)}",
            __base__=crd.CustomResource,
            __cls_kwargs__={"group": "example.com", "version": "v1", "kind": "Res"},
            **fields,
        )
    except pydantic.PydanticSchemaGenerationError:
        return  # pydantic itself refuses the shape
    try:
        schema = crd.openapi_schema(resource)
    except crd.SchemaError as exc:
        assert exc.model == resource.__name__ and str(exc).startswith(exc.model)
        return
    _assert_structural(schema)
    errors = check_structural(schema, "spec.versions[0].schema.openAPIV3Schema")
    assert errors == [], [e.describe() for e in errors]
    crd_dict = crd.definition(resource)
    assert crd_dict["spec"]["versions"][0]["schema"]["openAPIV3Schema"] == schema
    if spec[1] is not ...:
        _assert_server_agrees(spec[0], spec[1], schema["properties"]["spec"])
        obj = resource.model_validate({"spec": spec[1]})
        assert resource.from_object(obj.to_object()) == obj


def _assert_server_agrees(annotation: Any, value: Any, schema: dict[str, Any]) -> None:
    """The server keeps, accepts and defaults what pydantic sends as pydantic would,
    following the server's write pipeline: prune, default, validate."""
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    sent = adapter.dump_python(value, mode="json", by_alias=True, exclude_none=True)
    if value is None:
        sent = None  # exclude_none does not apply to a top-level value
    assert adapter.validate_python(sent) == value  # the round trip loses nothing
    node = SchemaNode(schema)
    kept = copy.deepcopy(sent)
    assert prune(kept, node, is_root=False) == [] and kept == sent
    defaulted = apply_defaults(copy.deepcopy(sent), node)
    assert [c.describe() for c in validate(defaulted, node, "spec")] == []
    assert adapter.validate_python(defaulted) == adapter.validate_python(sent)
