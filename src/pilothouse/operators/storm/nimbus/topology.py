"""A topology described as data, checked, and turned into the ``StormTopology`` Nimbus accepts.

A ``TopologySpec`` is what a YAML file or a custom resource says: the topology's ``name``,
its ``config`` (plus a ``workers`` shortcut for ``topology.workers``), and its ``spouts`` and
``bolts``, each a ``java`` class with constructor ``args`` or a multilang ``shell`` command
and script, with ``parallelism``, optional ``tasks``, per-component ``config``, declared
``outputs`` (stream id -> fields, or ``{fields, direct}``) and, for bolts, ``inputs``.
``spouts`` and ``bolts`` are mappings of id to component, or lists of components with an
``id``; either way the model holds a mapping, so error paths read ``bolts.count.parallelism``.
Defaults, as in Storm's ``TopologyBuilder``: ``parallelism`` 1, an input's ``stream``
``"default"``; an input's ``grouping`` defaults to ``shuffle``, the common case.

Two layers of checks, because they fail differently:

- *Shape*, by pydantic: types (strict: ``parallelism: "4"`` or ``yes`` is an error, not a
  coercion) and unknown keys (``extra="forbid"``, so a typo is an error, not a silently
  ignored setting).
- *Meaning*, by ``TopologySpec.problems``, which runs the rules in ``topologycheck`` (names,
  references, streams and fields, groupings, cycles, ranges, JSON-ability; where they are
  stricter than Nimbus, and why, is documented there). Every problem is collected, each
  prefixed with the path of the field at fault, before anything is sent to Nimbus. They need
  a well-formed spec, so a document with shape errors gets those first, and its other
  problems once the shape is fixed.

``parse`` (and ``topologyfile.load_topology_file``, also reachable as ``load_topology_file``
here) raise both kinds as one
``errors.TopologyError(problems)``; ``to_thrift`` and ``conf_json`` check again first (cheap,
and it covers specs built with ``model_construct``/``model_copy``, which skip validation).
``TopologySpec.model_validate`` itself raises a ``pydantic.ValidationError`` whose
``invalid_topology`` error carries the problem list in ``ctx["problems"]``, so a spec can be
a field of a larger pydantic model (a custom resource) and fail like any other field.

Mapping to Storm's Thrift, as ``TopologyBuilder`` does it:

- ``java`` -> ``ComponentObject.java_object`` (Storm instantiates the class with the args);
  an int arg is ``int_arg`` when it fits in 32 bits, else ``long_arg``; ``float`` ->
  ``double_arg``; ``bytes`` (or ``{binary: <base64>}`` in a file) -> ``binary_arg``.
  ``shell`` -> ``ComponentObject.shell`` (Storm runs it as a ``ShellSpout``/``ShellBolt``).
- groupings: ``shuffle``, ``all``, ``none``, ``direct``, ``local_or_shuffle`` are the union
  members of those names; ``fields`` is ``fields=[...]``; ``global`` is ``fields=[]``, which
  is how Storm encodes it (so a ``fields`` grouping must name at least one field).
- ``tasks`` -> the component's ``topology.tasks`` in ``json_conf`` (``setNumTasks``), so a
  component ``config`` may not set ``topology.tasks`` itself; ``json_conf`` is left unset
  when there is no component config.

``conf_json`` is deterministic (sorted keys) so equal specs give equal bytes, and never adds
``topology.name``: Nimbus sets it from the submitted name. ``TopologySpec.from_thrift`` is the
reverse, for showing a running topology (use ``getUserTopology``: ``getTopology`` includes
Storm's system components). It describes and does not vouch: the result is not checked, since
a running topology may break this builder's stricter rules. Components Java code submitted as
serialized objects, and custom groupings, have no spec form; ``from_thrift`` refuses them.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

import pydantic
import pydantic_core

from pilothouse.operators.storm.nimbus import errors, idl, topologycheck

DEFAULT_STREAM = "default"

_I32 = range(-(2**31), 2**31)
# Validation context key that skips the meaning checks (``from_thrift`` only).
_UNCHECKED = "pilothouse.storm.topology.unchecked"
_ERROR_TYPE = "invalid_topology"

_MODEL = pydantic.ConfigDict(extra="forbid", frozen=True)

#: The groupings a bolt's input may use; defined with the rules that check them.
Grouping = topologycheck.Grouping


def _shape_error(kind: str, message: str) -> pydantic_core.PydanticCustomError:
    # No context: pydantic then leaves the (already formatted) message alone, braces included.
    return pydantic_core.PydanticCustomError(kind, message)


def _java_arg(value: object) -> bool | int | float | str | bytes:
    if isinstance(value, bool | int | float | str | bytes):
        return value
    if isinstance(value, Mapping) and set(value) == {"binary"} and isinstance(value["binary"], str):
        try:
            return base64.b64decode(value["binary"], validate=True)
        except binascii.Error as exc:
            raise _shape_error("java_arg", f"binary: not valid base64 ({exc})") from None
    raise _shape_error("java_arg", "must be an int, float, bool, string or {binary: <base64>}")


def _dump_java_arg(value: bool | int | float | str | bytes) -> Any:
    # The file form, so a dumped spec loads again.
    if isinstance(value, bytes):
        return {"binary": base64.b64encode(value).decode("ascii")}
    return value


JavaArg = Annotated[
    bool | int | float | str | bytes,
    pydantic.PlainValidator(_java_arg),
    pydantic.PlainSerializer(_dump_java_arg),
]


class JavaSpec(pydantic.BaseModel):
    """A JVM class Storm instantiates with ``args`` (``class`` in files)."""

    model_config = _MODEL

    # validation_alias, not alias: Python callers (and mypy) use ``class_name``.
    class_name: pydantic.StrictStr = pydantic.Field(
        validation_alias=pydantic.AliasChoices("class", "class_name"), serialization_alias="class"
    )
    args: tuple[JavaArg, ...] = ()


class ShellSpec(pydantic.BaseModel):
    """A multilang component: Storm runs ``command script`` and speaks JSON over stdio."""

    model_config = _MODEL

    command: pydantic.StrictStr
    script: pydantic.StrictStr


class StreamSpec(pydantic.BaseModel):
    """One declared output stream; a bare list of fields means ``{fields: [...]}``."""

    model_config = _MODEL

    fields: tuple[pydantic.StrictStr, ...] = ()
    direct: pydantic.StrictBool = False

    @pydantic.model_validator(mode="before")
    @classmethod
    def _bare_fields(cls, data: Any) -> Any:
        return {"fields": data} if isinstance(data, list | tuple) else data


class InputSpec(pydantic.BaseModel):
    """A bolt's subscription to one stream of another component."""

    model_config = _MODEL

    component: pydantic.StrictStr
    stream: pydantic.StrictStr = DEFAULT_STREAM
    grouping: Grouping = Grouping.SHUFFLE
    #: Only for ``grouping: fields``.
    fields: tuple[pydantic.StrictStr, ...] | None = None


class ComponentSpec(pydantic.BaseModel):
    """A spout or a bolt; which one is decided by the mapping it sits in."""

    model_config = _MODEL

    java: JavaSpec | None = None
    shell: ShellSpec | None = None
    parallelism: pydantic.StrictInt = 1
    tasks: pydantic.StrictInt | None = None
    config: dict[str, Any] = pydantic.Field(default_factory=dict)
    outputs: dict[str, StreamSpec] = pydantic.Field(default_factory=dict)
    inputs: tuple[InputSpec, ...] = ()

    def conf(self) -> dict[str, Any]:
        """The component's configuration as Storm sees it (``tasks`` included)."""
        tasks = {} if self.tasks is None else {topologycheck.TASKS_KEY: self.tasks}
        return {**self.config, **tasks}


def _keyed(value: Any, kind: str) -> Any:
    """The list form (items with ``id``) as the mapping form, in order."""
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(item, Mapping) and "id" in item:
                if item["id"] != key:
                    raise _shape_error(
                        "component_id",
                        f"{kind} {key!r} has id {item['id']!r}; in a mapping the key is the id",
                    )
                item = {k: v for k, v in item.items() if k != "id"}
            out[key] = item
        return out
    if not isinstance(value, list | tuple):
        raise _shape_error(
            "components", "must be a mapping of id to component, or a list of items with an id"
        )
    keyed: dict[Any, Any] = {}
    for index, item in enumerate(value):
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            raise _shape_error("component_id", f"item {index} needs an 'id' (a string)")
        if item["id"] in keyed:
            raise _shape_error("component_id", f"duplicate id {item['id']!r} (item {index})")
        keyed[item["id"]] = {k: v for k, v in item.items() if k != "id"}
    return keyed


class TopologySpec(pydantic.BaseModel):
    """A whole topology; valid once validated (``from_thrift``'s aside; see the module doc)."""

    model_config = _MODEL

    name: pydantic.StrictStr
    workers: pydantic.StrictInt | None = None
    config: dict[str, Any] = pydantic.Field(default_factory=dict)
    spouts: dict[str, ComponentSpec] = pydantic.Field(default_factory=dict)
    bolts: dict[str, ComponentSpec] = pydantic.Field(default_factory=dict)
    allow_cycles: pydantic.StrictBool = False

    @pydantic.field_validator("spouts", "bolts", mode="before")
    @classmethod
    def _list_form(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        return _keyed(value, "spout" if info.field_name == "spouts" else "bolt")

    @pydantic.model_validator(mode="after")
    def _meaning(self, info: pydantic.ValidationInfo) -> TopologySpec:
        if isinstance(info.context, Mapping) and info.context.get(_UNCHECKED):
            return self
        problems = self.problems()
        if problems:
            raise pydantic_core.PydanticCustomError(
                _ERROR_TYPE, "{summary}", {"summary": "; ".join(problems), "problems": problems}
            )
        return self

    def problems(self) -> list[str]:
        """Every reason Nimbus (or this builder) would refuse the topology; empty when valid."""
        return topologycheck.problems(self)

    def check(self) -> None:
        """Raise ``errors.TopologyError`` with every problem, if there are any."""
        problems = self.problems()
        if problems:
            raise errors.TopologyError(problems)

    def components(self) -> Iterator[tuple[str, str, ComponentSpec]]:
        """``(kind, id, component)`` for every spout, then every bolt; kind is the field name."""
        for cid, comp in self.spouts.items():
            yield "spouts", cid, comp
        for cid, comp in self.bolts.items():
            yield "bolts", cid, comp

    def conf(self) -> dict[str, Any]:
        """The topology configuration submitted with it (``workers`` folded in)."""
        extra = {} if self.workers is None else {topologycheck.WORKERS_KEY: self.workers}
        return {**self.config, **extra}

    def conf_json(self) -> str:
        """The ``jsonConf`` argument of ``submitTopology``; checked first."""
        self.check()
        return _dumps(self.conf())

    def to_thrift(self) -> Any:
        """The ``idl.storm.StormTopology`` to submit; checked first."""
        self.check()
        s = idl.storm
        return s.StormTopology(
            spouts={
                cid: s.SpoutSpec(spout_object=_object_to_thrift(c), common=_common_to_thrift(c))
                for cid, c in self.spouts.items()
            },
            bolts={
                cid: s.Bolt(bolt_object=_object_to_thrift(c), common=_common_to_thrift(c))
                for cid, c in self.bolts.items()
            },
            state_spouts={},
        )

    @classmethod
    def from_thrift(
        cls, name: str, topology: Any, conf: Mapping[str, Any] | str | None = None
    ) -> TopologySpec:
        """The spec describing a ``StormTopology`` (unchecked; see the module docstring).

        ``conf`` is the topology's configuration, as a mapping or ``getTopologyConf``'s JSON;
        ``topology.name`` is dropped from it. ``ValueError`` for what a spec cannot describe.
        """
        config = dict(json.loads(conf) if isinstance(conf, str) else conf or {})
        config.pop(topologycheck.NAME_KEY, None)
        data = {
            "name": name,
            "config": config,
            "spouts": {
                cid: _component_from_thrift(cid, sp.spout_object, sp.common)
                for cid, sp in (topology.spouts or {}).items()
            },
            "bolts": {
                cid: _component_from_thrift(cid, b.bolt_object, b.common)
                for cid, b in (topology.bolts or {}).items()
            },
        }
        return cls.model_validate(data, context={_UNCHECKED: True})


def load_topology_file(path: str | os.PathLike[str]) -> TopologySpec:
    """``topologyfile.load_topology_file``, here too because this is where callers look."""
    # Imported here: topologyfile builds on this module.
    from pilothouse.operators.storm.nimbus import topologyfile

    return topologyfile.load_topology_file(path)


def parse(data: object) -> TopologySpec:
    """A checked spec from plain data (parsed YAML/JSON); every problem as one ``TopologyError``."""
    try:
        return TopologySpec.model_validate(data)
    except pydantic.ValidationError as exc:
        raise errors.TopologyError(validation_problems(exc)) from None


def validation_problems(exc: pydantic.ValidationError) -> list[str]:
    """``path: message`` lines for a ``ValidationError`` raised by ``TopologySpec``."""
    out: list[str] = []
    for err in exc.errors():
        ctx = err.get("ctx") or {}
        if err["type"] == _ERROR_TYPE and isinstance(ctx.get("problems"), list):
            out.extend(ctx["problems"])
            continue
        path = ".".join(str(part) for part in err["loc"])
        message = err["msg"]
        if err["type"] == "extra_forbidden" and err["loc"]:
            message += topologycheck.suggest(str(err["loc"][-1]), _FIELD_NAMES)
        out.append(f"{path}: {message}" if path else message)
    return out


_FIELD_NAMES = {
    "class",
    *JavaSpec.model_fields,
    *ShellSpec.model_fields,
    *StreamSpec.model_fields,
    *InputSpec.model_fields,
    *ComponentSpec.model_fields,
    *TopologySpec.model_fields,
} - {"class_name"}


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _java_arg_to_thrift(value: bool | int | float | str | bytes) -> Any:
    arg = idl.storm.JavaObjectArg
    # bool before int: True is an int to Python, a boolean to Java.
    if isinstance(value, bool):
        return arg(bool_arg=value)
    if isinstance(value, int):
        return arg(int_arg=value) if value in _I32 else arg(long_arg=value)
    if isinstance(value, float):
        return arg(double_arg=value)
    if isinstance(value, bytes):
        return arg(binary_arg=value)
    return arg(string_arg=value)


def _object_to_thrift(comp: ComponentSpec) -> Any:
    s = idl.storm
    if comp.java is not None:
        java = s.JavaObject(
            full_class_name=comp.java.class_name,
            args_list=[_java_arg_to_thrift(a) for a in comp.java.args],
        )
        return s.ComponentObject(java_object=java)
    assert comp.shell is not None  # check() guarantees exactly one
    shell = s.ShellComponent(execution_command=comp.shell.command, script=comp.shell.script)
    return s.ComponentObject(shell=shell)


def _grouping_to_thrift(inp: InputSpec) -> Any:
    s = idl.storm
    if inp.grouping is Grouping.FIELDS:
        return s.Grouping(fields=list(inp.fields or ()))
    if inp.grouping is Grouping.GLOBAL:
        return s.Grouping(fields=[])
    return s.Grouping(**{inp.grouping.value: s.NullStruct()})


def _common_to_thrift(comp: ComponentSpec) -> Any:
    s = idl.storm
    conf = comp.conf()
    return s.ComponentCommon(
        inputs={
            s.GlobalStreamId(componentId=i.component, streamId=i.stream): _grouping_to_thrift(i)
            for i in comp.inputs
        },
        streams={
            sid: s.StreamInfo(output_fields=list(st.fields), direct=st.direct)
            for sid, st in comp.outputs.items()
        },
        parallelism_hint=comp.parallelism,
        json_conf=_dumps(conf) if conf else None,
    )


_NULL_GROUPINGS = [g for g in Grouping if g not in (Grouping.FIELDS, Grouping.GLOBAL)]


def _grouping_from_thrift(cid: str, grouping: Any) -> dict[str, Any]:
    if grouping.fields is not None:
        if not grouping.fields:
            return {"grouping": Grouping.GLOBAL}
        return {"grouping": Grouping.FIELDS, "fields": list(grouping.fields)}
    for kind in _NULL_GROUPINGS:
        if getattr(grouping, kind.value) is not None:
            return {"grouping": kind}
    raise ValueError(f"component {cid!r} uses a custom grouping, which a spec cannot describe")


def _java_arg_from_thrift(arg: Any) -> bool | int | float | str | bytes:
    for attr in ("int_arg", "long_arg", "string_arg", "bool_arg", "binary_arg", "double_arg"):
        value = getattr(arg, attr)
        if value is not None:
            return value  # type: ignore[no-any-return]
    raise ValueError("a JavaObjectArg with no value set")


def _component_from_thrift(cid: str, obj: Any, common: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if obj.java_object is not None:
        out["java"] = {
            "class": obj.java_object.full_class_name,
            "args": [_java_arg_from_thrift(a) for a in obj.java_object.args_list or ()],
        }
    elif obj.shell is not None:
        out["shell"] = {"command": obj.shell.execution_command, "script": obj.shell.script}
    else:
        raise ValueError(
            f"component {cid!r} is a serialized Java object; a spec cannot describe it"
        )
    config = dict(json.loads(common.json_conf)) if common.json_conf else {}
    if topologycheck.TASKS_KEY in config:
        out["tasks"] = config.pop(topologycheck.TASKS_KEY)
    out["config"] = config
    out["parallelism"] = common.parallelism_hint if common.parallelism_hint is not None else 1
    out["outputs"] = {
        sid: {"fields": list(info.output_fields or ()), "direct": bool(info.direct)}
        for sid, info in (common.streams or {}).items()
    }
    out["inputs"] = [
        {"component": gsid.componentId, "stream": gsid.streamId, **_grouping_from_thrift(cid, g)}
        for gsid, g in (common.inputs or {}).items()
    ]
    return out
