"""Generate the Kubernetes protobuf field table used by ``pilothouse.apiserver.protobuf``.

kubectl's typed clients send request bodies as ``application/vnd.kubernetes.protobuf``. To turn
such a body back into the JSON form we need, for every message, the field numbers, wire types,
labels and JSON names. This script reads ``generated.proto`` files and writes those facts as a
compact JSON table (``src/pilothouse/apiserver/protobuf/k8s_proto_v1_32.json``); only the table is
committed, never the ``.proto`` text.

Where the data came from
    Kubernetes v1.32 (``k8s.io/api`` and ``k8s.io/apimachinery`` v0.32.1): the ``generated.proto``
    files of ``meta/v1``, ``api/resource``, ``util/intstr``, ``runtime`` and the API groups
    core/v1, apps/v1, batch/v1, policy/v1, rbac/v1, networking/v1, scheduling/v1, authorization/v1,
    coordination/v1, autoscaling/v1, autoscaling/v2, discovery/v1, storage/v1, events/v1,
    authentication/v1 and admissionregistration/v1. They were read from public copies of those
    files (a vendored ``k8s.io/api@v0.32.1`` tree; rbac/v1 and the small apimachinery files,
    which have not changed since well before 1.32, from the upstream repositories) and saved,
    reduced to their ``message`` declarations, under one directory laid out like the upstream
    trees: ``api/<group>/<version>/generated.proto`` and ``apimachinery/pkg/.../generated.proto``.

    Which scalar fields are Go pointers comes from the Go types: ``zz_generated.deepcopy.go``
    (a field copied with ``*out = new(T); **out = **in``) of core/v1, meta/v1, rbac/v1,
    policy/v1, networking/v1 and the Deployment/ReplicaSet/StatefulSet types, and ``types.go`` of
    batch/v1 (Job and CronJob types) and scheduling/v1. Pointer-ness never changes once a field
    exists, so copies from other releases serve, with one caveat: the meta/v1 copy predates
    1.32, so pointers added since (``ListMeta.remainingItemCount``, ``DeleteOptions.
    ignoreStoreReadErrorWithClusterBreakingPotential``...) count as non-pointers whose zero is
    dropped, which is harmless as their zero means the same as their absence. These facts live in
    ``go-pointers.txt`` beside the protos: ``package P`` means every type of P was read,
    ``partial P`` that only the types listed were, and each ``Type: GoField ...`` line names
    that type's pointer scalar fields.

How to regenerate
    1. Put the ``generated.proto`` files of the wanted release under a directory with that layout
       (copies of the upstream files work as they are: comments, options and imports are
       ignored), and ``go-pointers.txt`` at its top.
    2. ``.venv/bin/python scripts/gen_k8s_proto_table.py /path/to/protos --check``
    ``--check`` compares every message's JSON field names with the lightkube-models dataclasses
    (a project dependency) and reports proto names that are not JSON names: those must be
    listed in ``JSON_NAMES`` or ``INLINE`` below. Names the models have but the protos lack are
    fields newer than the protos and are only counted.

Design choices
    * Proto field names are the Go JSON names, with two kinds of exceptions the proto text cannot
      show: go-to-protobuf lower-cases only the first letter of the Go field name (``UID`` ->
      ``uID`` where the JSON name is ``uid``), and embedded Go structs (``json:",inline"``) appear
      as an ordinary message field whose members belong to the parent object in JSON. Both are
      spelled out below, checked against lightkube-models with ``--check``.
    * The table keeps full message names and the proto labels (``optional``/``repeated``/``map``,
      plus ``inline``) so the runtime decoder needs no knowledge of Kubernetes beyond a handful of
      well-known wrapper messages (Time, Quantity, IntOrString, RawExtension...).
    * Go's JSON encoder omits a zero-valued non-pointer field tagged ``omitempty``, while
      gogo-protobuf writes every non-pointer field, so an empty ``generateName`` is on the wire
      but not in the JSON. Scalar fields therefore get the label ``omitempty`` (drop a zero value)
      unless the Go field is a pointer or has no ``omitempty``; the latter are the OpenAPI
      ``required`` fields, read from the 1.32 definitions kubernetes-validate ships. Messages
      of types whose Go facts were not read keep ``optional`` (every value on the wire appears,
      zeros included).
    * ``kinds`` maps ``apiVersion/Kind`` to the message of every top-level object: any message
      with a ``metadata`` field of ``ObjectMeta``/``ListMeta`` (templates excluded), plus the
      option kinds that client-go registers in every group version (``DeleteOptions`` ...).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.resources
import json
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "src/pilothouse/apiserver/protobuf/k8s_proto_v1_32.json"

SCALARS = {
    "string",
    "bytes",
    "bool",
    "int32",
    "int64",
    "uint32",
    "uint64",
    "sint32",
    "sint64",
    "fixed32",
    "fixed64",
    "sfixed32",
    "sfixed64",
    "double",
    "float",
}

META = "k8s.io.apimachinery.pkg.apis.meta.v1"

# Package of an API group -> the group's name in apiVersion ("" is the core group).
GROUPS = {
    "core": "",
    "apps": "apps",
    "batch": "batch",
    "policy": "policy",
    "autoscaling": "autoscaling",
    "rbac": "rbac.authorization.k8s.io",
    "networking": "networking.k8s.io",
    "scheduling": "scheduling.k8s.io",
    "coordination": "coordination.k8s.io",
    "discovery": "discovery.k8s.io",
    "storage": "storage.k8s.io",
    "events": "events.k8s.io",
    "authentication": "authentication.k8s.io",
    "authorization": "authorization.k8s.io",
    "admissionregistration": "admissionregistration.k8s.io",
}

# Proto names that differ from the JSON names (go-to-protobuf lower-cases one letter only).
JSON_NAMES = {
    ("k8s.io.api.authentication.v1.BoundObjectReference", "uID"): "uid",
    ("k8s.io.api.networking.v1.IngressClassParametersReference", "aPIGroup"): "apiGroup",
    ("k8s.io.api.admissionregistration.v1.MutatingWebhookConfiguration", "Webhooks"): "webhooks",
    ("k8s.io.api.admissionregistration.v1.ValidatingWebhookConfiguration", "Webhooks"): "webhooks",
    ("k8s.io.api.admissionregistration.v1.Validation", "Expression"): "expression",
    ("k8s.io.api.admissionregistration.v1.Variable", "Name"): "name",
    ("k8s.io.api.admissionregistration.v1.Variable", "Expression"): "expression",
}

# Embedded Go structs: their members appear directly in the parent's JSON object.
INLINE = {
    ("k8s.io.api.core.v1.ConfigMapEnvSource", "localObjectReference"),
    ("k8s.io.api.core.v1.ConfigMapKeySelector", "localObjectReference"),
    ("k8s.io.api.core.v1.ConfigMapProjection", "localObjectReference"),
    ("k8s.io.api.core.v1.ConfigMapVolumeSource", "localObjectReference"),
    ("k8s.io.api.core.v1.SecretEnvSource", "localObjectReference"),
    ("k8s.io.api.core.v1.SecretKeySelector", "localObjectReference"),
    ("k8s.io.api.core.v1.SecretProjection", "localObjectReference"),
    ("k8s.io.api.core.v1.EphemeralContainer", "ephemeralContainerCommon"),
    ("k8s.io.api.core.v1.PersistentVolumeSpec", "persistentVolumeSource"),
    ("k8s.io.api.core.v1.Probe", "handler"),
    ("k8s.io.api.core.v1.Volume", "volumeSource"),
    ("k8s.io.api.networking.v1.IngressRule", "ingressRuleValue"),
    ("k8s.io.api.admissionregistration.v1.NamedRuleWithOperations", "ruleWithOperations"),
    ("k8s.io.api.admissionregistration.v1.RuleWithOperations", "rule"),
}

# Messages with an ObjectMeta that are parts of other objects, not kinds of their own.
NOT_KINDS = {"PodTemplateSpec", "JobTemplateSpec", "PersistentVolumeClaimTemplate"}

# metav1.AddToGroupVersion registers these in every group version.
OPTION_KINDS = (
    "DeleteOptions",
    "CreateOptions",
    "UpdateOptions",
    "PatchOptions",
    "GetOptions",
    "ListOptions",
)

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|[A-Za-z_.][\w.]*|\d+|[{}<>,;=\[\]()]')
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)

Field = tuple[str, str, str, int, str | None]  # name, type, label, number, map key type


def parse_proto(text: str) -> tuple[str, dict[str, list[Field]]]:
    """Return the package and ``{message name: fields}`` of one ``.proto`` file."""
    tokens = _TOKEN.findall(_COMMENT.sub(" ", text))
    package = ""
    messages: dict[str, list[Field]] = {}
    i = 0

    def skip_statement(j: int) -> int:
        while tokens[j] != ";":
            j += 1
        return j + 1

    while i < len(tokens):
        tok = tokens[i]
        if tok == "package":
            package = tokens[i + 1]
            i = skip_statement(i)
        elif tok in ("syntax", "import", "option"):
            i = skip_statement(i)
        elif tok == "message":
            name = tokens[i + 1]
            if tokens[i + 2] != "{":
                raise ValueError(f"message {name}: expected '{{'")
            i, fields = _parse_body(tokens, i + 3, name)
            messages[name] = fields
        else:
            raise ValueError(f"unexpected token {tok!r}")
    return package, messages


def _parse_body(tokens: list[str], i: int, message: str) -> tuple[int, list[Field]]:
    fields: list[Field] = []
    while tokens[i] != "}":
        tok = tokens[i]
        if tok in ("message", "enum", "oneof", "extensions", "extend", "reserved"):
            raise ValueError(f"message {message}: {tok} is not supported")
        if tok == "option":
            while tokens[i] != ";":
                i += 1
            i += 1
            continue
        if tok == "map":
            # map < K , V > name = N ;
            key, value, name, number = tokens[i + 2], tokens[i + 4], tokens[i + 6], tokens[i + 8]
            fields.append((name, value, "map", int(number), key))
            i += 9
        else:
            if tok not in ("optional", "repeated", "required"):
                raise ValueError(f"message {message}: unexpected token {tok!r}")
            label = "optional" if tok == "required" else tok
            ftype, name, number = tokens[i + 1], tokens[i + 2], tokens[i + 4]
            if tokens[i + 3] != "=":
                raise ValueError(f"message {message}: malformed field {name}")
            fields.append((name, ftype, label, int(number), None))
            i += 5
        if tokens[i] == "[":  # field options such as [packed = true]
            while tokens[i] != "]":
                i += 1
            i += 1
        if tokens[i] != ";":
            raise ValueError(f"message {message}: expected ';' after field")
        i += 1
    return i + 1, fields


def parse_go_facts(text: str) -> tuple[set[str], dict[str, set[str]]]:
    """Return (packages read whole, {full message name: lower-cased pointer field names})."""
    whole: set[str] = set()
    pointers: dict[str, set[str]] = {}
    package = ""
    for raw_line in text.splitlines():
        line = raw_line.split("#", 1)[0].strip()
        if not line:
            continue
        word, _, rest = line.partition(" ")
        if word in ("package", "partial"):
            package = rest.strip()
            if word == "package":
                whole.add(package)
            continue
        name, _, fields = line.partition(":")
        pointers[f"{package}.{name.strip()}"] = {f.lower() for f in fields.split()}
    return whole, pointers


@functools.cache
def _openapi_definitions() -> dict[str, Any]:
    """The Kubernetes 1.32 OpenAPI definitions kubernetes-validate ships (a project dependency)."""
    package = importlib.resources.files("kubernetes_validate")
    path = package / "kubernetes-json-schema" / "v1.32.0-local" / "_definitions.json"
    definitions: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["$defs"]
    return definitions


def required_fields(full: str) -> set[str]:
    """JSON names of the OpenAPI ``required`` fields: Go fields without ``omitempty``."""
    # "k8s.io.api.core.v1.Pod" is "io.k8s.api.core.v1.Pod" in the OpenAPI document.
    definition = _openapi_definitions().get("io.k8s." + full.removeprefix("k8s.io."))
    return set(definition.get("required", [])) if definition else set()


def resolve(type_name: str, package: str, known: set[str]) -> str:
    """Resolve a type reference the way protoc does: innermost package scope first."""
    if type_name in SCALARS:
        return type_name
    if type_name.startswith("."):
        full = type_name[1:]
        if full not in known:
            raise ValueError(f"unknown type {type_name}")
        return full
    scope = package.split(".")
    while True:
        candidate = ".".join([*scope, type_name])
        if candidate in known:
            return candidate
        if not scope:
            raise ValueError(f"unknown type {type_name} in package {package}")
        scope.pop()


def build(proto_dir: Path) -> dict[str, Any]:
    facts = proto_dir / "go-pointers.txt"
    whole, pointers = (
        parse_go_facts(facts.read_text(encoding="utf-8"))
        if facts.exists()
        else (
            set(),
            {},
        )
    )
    parsed: list[tuple[str, dict[str, list[Field]]]] = []
    for path in sorted(proto_dir.rglob("*.proto")):
        parsed.append(parse_proto(path.read_text(encoding="utf-8")))
    known = {f"{pkg}.{name}" for pkg, msgs in parsed for name in msgs}

    messages: dict[str, dict[str, list[str]]] = {}
    proto_names: set[tuple[str, str]] = set()
    for package, msgs in parsed:
        for name, fields in msgs.items():
            full = f"{package}.{name}"
            proto_names.update((full, f[0]) for f in fields)
            facts_known = package in whole or full in pointers
            go_pointers = pointers.get(full, set())
            required = required_fields(full)
            table: dict[str, list[str]] = {}
            for fname, ftype, label, number, key in fields:
                json_name = JSON_NAMES.get((full, fname), fname)
                target = resolve(ftype, package, known)
                if (full, fname) in INLINE:
                    if label != "optional" or target in SCALARS:
                        raise ValueError(f"{full}.{fname}: only a message can be inlined")
                    label = "inline"
                elif (
                    label == "optional"
                    and target in SCALARS
                    and facts_known
                    and fname.lower() not in go_pointers
                    and json_name not in required
                ):
                    label = "omitempty"
                entry = [json_name, target, label]
                if key is not None:
                    entry.append(resolve(key, package, known))
                table[str(number)] = entry
            messages[full] = dict(sorted(table.items(), key=lambda kv: int(kv[0])))
    for override in sorted(INLINE | set(JSON_NAMES)):
        if override not in proto_names:
            raise ValueError(f"no field {override[1]} in {override[0]}: stale override")

    lowered = {(m, f.lower()) for m, f in proto_names}
    for full, names in sorted(pointers.items()):
        for field in sorted(names):
            if (full, field) not in lowered:
                print(f"note: {full}.{field} is not in the protos (newer field?)", file=sys.stderr)

    kinds: dict[str, str] = {}
    group_versions = {"meta.k8s.io/v1"}
    for full, table in messages.items():
        parts = full.split(".")
        if parts[:3] != ["k8s", "io", "api"]:
            continue
        group, version, kind = parts[3], parts[4], parts[5]
        api_version = f"{GROUPS[group]}/{version}" if GROUPS[group] else version
        group_versions.add(api_version)
        if kind in NOT_KINDS:
            continue
        meta = table.get("1")
        if meta and meta[0] == "metadata" and meta[1] in (f"{META}.ObjectMeta", f"{META}.ListMeta"):
            kinds[f"{api_version}/{kind}"] = full
    for api_version in group_versions:
        for kind in OPTION_KINDS:
            kinds[f"{api_version}/{kind}"] = f"{META}.{kind}"
    kinds["meta.k8s.io/v1/Status"] = f"{META}.Status"
    kinds["v1/Status"] = f"{META}.Status"

    return {
        "source": "Kubernetes v1.32 generated.proto (k8s.io/api, k8s.io/apimachinery v0.32.1); "
        "regenerate with scripts/gen_k8s_proto_table.py",
        "messages": dict(sorted(messages.items())),
        "kinds": dict(sorted(kinds.items())),
    }


def dump(table: dict[str, Any]) -> str:
    """JSON with one message per line, so that a regeneration diffs readably."""
    out = ["{", f'"source":{json.dumps(table["source"])},', '"messages":{']
    items = list(table["messages"].items())
    for n, (name, fields) in enumerate(items):
        comma = "," if n < len(items) - 1 else ""
        out.append(f"{json.dumps(name)}:{json.dumps(fields, separators=(',', ':'))}{comma}")
    out.append("},")
    out.append(f'"kinds":{json.dumps(table["kinds"], indent=0, separators=(",", ":"))}')
    out.append("}")
    return "\n".join(out) + "\n"


def check(table: dict[str, Any]) -> int:
    """Compare JSON names with lightkube-models; return the number of problems found."""
    problems = 0
    newer = 0
    messages: dict[str, dict[str, list[str]]] = table["messages"]

    def json_names(full: str) -> set[str]:
        names: set[str] = set()
        for entry in messages[full].values():
            if entry[2] == "inline":
                names |= json_names(entry[1])
            else:
                names.add(entry[0])
        return names

    for full in messages:
        parts = full.split(".")
        if parts[:3] == ["k8s", "io", "api"]:
            module = f"{parts[3]}_{parts[4]}"
        elif full.startswith(META + "."):
            module = "meta_v1"
        else:
            continue
        try:
            model = getattr(importlib.import_module(f"lightkube.models.{module}"), parts[-1])
        except (ImportError, AttributeError):
            continue
        encode_fields = getattr(model, "__struct_encode_fields__", None)
        if encode_fields is None:  # an alias, not a model class
            continue
        expected = set(encode_fields)
        ours = json_names(full)
        for name in sorted(ours - expected):
            print(f"{full}: {name!r} is not a JSON field of the model", file=sys.stderr)
            problems += 1
        newer += len(expected - ours)
    print(f"check: {problems} problem(s); {newer} model field(s) newer than the protos")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("proto_dir", type=Path, help="directory holding the generated.proto files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="cross-check with lightkube-models")
    args = parser.parse_args()
    table = build(args.proto_dir)
    args.out.write_text(dump(table), encoding="utf-8")
    print(f"wrote {len(table['messages'])} messages, {len(table['kinds'])} kinds to {args.out}")
    return 1 if args.check and check(table) else 0


if __name__ == "__main__":
    sys.exit(main())
