"""Generated CRDs on the embedded API server, driven by unmodified kubectl.

A realistic operator resource -- nested objects, lists (a list-map and a set), enums,
defaults, int-or-string, a free-form object, CEL rules, status and scale subresources,
printer columns and two versions -- goes through the generator, then through the server:
the CRD is accepted (raw API and ``kubectl apply``), objects are defaulted exactly as the
Python model defaults them, invalid ones are rejected naming the field, and kubectl's
``get``, ``explain`` and ``scale`` work from what was generated.
"""

from __future__ import annotations

import copy
import enum
import json
from typing import Annotated, Any, Literal

import pytest
from pydantic import Field

from pilothouse import crd
from pilothouse.testing import apiserver
from pilothouse.testing.eventually import eventually
from pilothouse.testing.http import RawClient


class Engine(enum.StrEnum):
    """The database engine."""

    POSTGRES = "postgres"
    MYSQL = "mysql"
    SQLITE = "sqlite"


class User(crd.Model):
    """A database user."""

    name: Annotated[str, Field(pattern="^[a-z][a-z0-9_]*$", max_length=32)]
    """The login name."""
    roles: Annotated[set[str], Field(max_length=8)] = set()
    """Granted roles."""


@crd.validations("self.retentionDays <= 365", message="backups are kept at most a year")
class Backup(crd.Model):
    """When and how long backups are kept."""

    schedule: Annotated[str, Field(max_length=64)] = "0 3 * * *"
    """A cron schedule."""
    retention_days: Annotated[int, Field(ge=1)] = 7
    """Days to keep each backup."""


@crd.validations(
    "self.engine != 'sqlite' || self.replicas <= 1", message="sqlite cannot be replicated"
)
class DatabaseSpec(crd.Model):
    """The desired state of a database."""

    engine: Engine = Engine.POSTGRES
    """Which engine runs the database."""
    version: Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)*$")] = "16"
    """The engine version."""
    replicas: Annotated[int, Field(ge=0, le=9)] = 1
    """How many instances to run."""
    port: crd.IntOrString = 5432
    """A port number or a named port."""
    storage_size: crd.IntOrString = "10Gi"
    users: Annotated[list[User], crd.list_type("map", keys=["name"]), Field(max_length=16)] = []
    """Database users, by name."""
    parameters: crd.PreserveUnknownFields = {}
    """Engine parameters, passed through as given."""
    backup: Backup | None = None
    """Backups; none when unset."""
    tier: Literal["dev", "prod"] = "dev"


class Condition(crd.Model):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str | None = None


class DatabaseStatus(crd.Model):
    """The observed state of a database."""

    replicas: int = 0
    ready_replicas: int = 0
    selector: str | None = None
    phase: Literal["Pending", "Ready", "Failed"] = "Pending"
    conditions: list[Condition] = []


class Database(
    crd.CustomResource,
    group="db.example.com",
    version="v1",
    kind="Database",
    short_names=("pgdb",),
    categories=("dbs",),
    printer_columns=(
        crd.PrinterColumn("Engine", "string", ".spec.engine"),
        crd.PrinterColumn("Replicas", "integer", ".spec.replicas"),
        crd.PrinterColumn("Ready", "integer", ".status.readyReplicas"),
        crd.PrinterColumn("Phase", "string", ".status.phase", priority=1),
        crd.AGE,
    ),
    scale=crd.Scale(label_selector_path=".status.selector"),
    selectable_fields=(".spec.engine",),
):
    """A managed database."""

    spec: DatabaseSpec
    status: DatabaseStatus | None = None


class DatabaseSpecV1beta1(crd.Model):
    engine: str = "postgres"
    size: int = 1


class DatabaseV1beta1(
    crd.CustomResource,
    group="db.example.com",
    version="v1beta1",
    kind="Database",
    storage=False,
    deprecated=True,
    deprecation_warning="db.example.com/v1beta1 Database is deprecated; use v1",
):
    """A managed database (old shape)."""

    spec: DatabaseSpecV1beta1


CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
BASE = "/apis/db.example.com/v1/namespaces/default/databases"


def _established(raw: RawClient) -> bool:
    crd_obj = raw.request("GET", f"{CRD_PATH}/databases.db.example.com").json()
    conds = {c["type"]: c["status"] for c in crd_obj.get("status", {}).get("conditions", [])}
    return conds.get("Established") == "True"


def _install(cluster: apiserver.ServerThread) -> RawClient:
    cluster.kubectl("apply", "-f", "-", input=crd.render_yaml([Database, DatabaseV1beta1]))
    raw = RawClient(cluster)
    eventually(lambda: _established(raw), message="CRD established")
    return raw


def _db(name: str, **spec: Any) -> Database:
    return Database(metadata=crd.ObjectMeta(name=name), spec=DatabaseSpec(**spec))


def test_the_embedded_server_accepts_the_generated_crd(cluster: apiserver.ServerThread) -> None:
    raw = RawClient(cluster)
    resp = raw.request("POST", CRD_PATH, crd.definition(Database, DatabaseV1beta1))
    assert resp.status == 201, resp.body
    assert not resp.header("Warning")  # nothing pruned, nothing unrecognised
    eventually(lambda: _established(raw), message="CRD established")


def test_kubectl_apply_accepts_the_generated_yaml_and_it_is_stable(
    cluster: apiserver.ServerThread,
) -> None:
    text = crd.render_yaml([Database, DatabaseV1beta1])
    out = cluster.kubectl("apply", "-f", "-", input=text)
    assert "customresourcedefinition.apiextensions.k8s.io/databases.db.example.com created" in (
        out.stdout
    )
    again = cluster.kubectl("apply", "-f", "-", input=text)
    assert "unchanged" in again.stdout
    stored = cluster.get_json("crd", "databases.db.example.com")
    generated = crd.definition(Database, DatabaseV1beta1)
    # The server stores what was generated: no field was dropped or normalised away.
    for mine, theirs in zip(generated["spec"]["versions"], stored["spec"]["versions"], strict=True):
        assert theirs["schema"] == mine["schema"]
        assert theirs.get("additionalPrinterColumns") == mine.get("additionalPrinterColumns")


def test_valid_objects_are_defaulted_as_the_model_defaults_them(
    cluster: apiserver.ServerThread,
) -> None:
    raw = _install(cluster)
    mine = _db("minimal")
    assert mine.to_object()["spec"] == {}  # nothing set, nothing sent
    resp = raw.request("POST", BASE, mine.to_object())
    assert resp.status == 201, resp.body
    stored = resp.json()
    assert stored["spec"] == {
        "engine": "postgres",
        "version": "16",
        "replicas": 1,
        "port": 5432,
        "storageSize": "10Gi",
        "users": [],
        "parameters": {},
        "tier": "dev",
    }
    assert Database.from_object(stored).spec == DatabaseSpec()

    full = _db(
        "full",
        engine=Engine.MYSQL,
        port="mysql",
        users=[User(name="admin", roles={"all"})],
        parameters={"max_connections": 100, "nested": {"kept": [1, 2]}},
        backup=Backup(schedule="@daily"),
    )
    resp = raw.request("POST", BASE, full.to_object())
    assert resp.status == 201, resp.body
    back = Database.from_object(resp.json())
    assert back.spec == full.spec  # nothing pruned, backup.retentionDays defaulted to 7
    assert resp.json()["spec"]["backup"] == {"schedule": "@daily", "retentionDays": 7}


def _spec_with(**changes: Any) -> dict[str, Any]:
    obj = _db("bad").to_object()
    obj["spec"] = changes
    return obj


@pytest.mark.parametrize(
    ("spec", "field", "fragment"),
    [
        ({"engine": "oracle"}, "spec.engine", 'supported values: "postgres", "mysql", "sqlite"'),
        ({"replicas": 10}, "spec.replicas", "should be less than or equal to 9"),
        ({"replicas": -1}, "spec.replicas", "should be greater than or equal to 0"),
        ({"version": "latest"}, "spec.version", "should match"),
        ({"port": 1.5}, "spec.port", "must be of type integer,string"),
        ({"tier": "staging"}, "spec.tier", 'supported values: "dev", "prod"'),
        ({"users": [{"roles": []}]}, "spec.users[0].name", "Required value"),
        ({"users": [{"name": "Bad Name"}]}, "spec.users[0].name", "should match"),
        ({"users": [{"name": "a"}, {"name": "a"}]}, "spec.users[1]", "Duplicate value"),
        ({"users": [{"name": "a", "roles": ["r", "r"]}]}, "spec.users[0].roles[1]", "Duplicate"),
        ({"engine": "sqlite", "replicas": 2}, "spec", "sqlite cannot be replicated"),
        ({"backup": {"retentionDays": 400}}, "spec.backup", "backups are kept at most a year"),
        ({"backup": {"retentionDays": 0}}, "spec.backup.retentionDays", "greater than or equal"),
    ],
)
def test_invalid_objects_are_rejected_naming_the_field(
    cluster: apiserver.ServerThread, spec: dict[str, Any], field: str, fragment: str
) -> None:
    raw = _install(cluster)
    resp = raw.request("POST", BASE, _spec_with(**spec))
    assert resp.status == 422, resp.body
    status = resp.json()
    causes = {c["field"]: c["message"] for c in status["details"]["causes"]}
    assert field in causes, causes
    assert fragment in causes[field], causes[field]
    assert 'Database.db.example.com "bad" is invalid' in status["message"]


def test_kubectl_get_shows_the_printer_columns(cluster: apiserver.ServerThread) -> None:
    _install(cluster)
    cluster.apply(_db("orders", engine=Engine.MYSQL, replicas=3).to_object())
    out = cluster.kubectl("get", "databases").stdout.splitlines()
    assert out[0].split() == ["NAME", "ENGINE", "REPLICAS", "READY", "AGE"]
    assert out[1].split()[:3] == ["orders", "mysql", "3"]
    wide = cluster.kubectl("get", "pgdb", "-o", "wide").stdout.splitlines()  # the short name
    assert wide[0].split() == ["NAME", "ENGINE", "REPLICAS", "READY", "PHASE", "AGE"]
    assert "orders" in cluster.kubectl("get", "dbs").stdout  # the category


def test_selectable_fields_work_as_field_selectors(cluster: apiserver.ServerThread) -> None:
    _install(cluster)
    cluster.apply(_db("orders", engine=Engine.MYSQL).to_object())
    cluster.apply(_db("users").to_object())
    found = cluster.get_json("databases", "--field-selector", "spec.engine=mysql")
    assert [item["metadata"]["name"] for item in found["items"]] == ["orders"]
    rejected = cluster.kubectl("get", "databases", "--field-selector", "spec.tier=dev", check=False)
    assert rejected.returncode != 0 and "spec.tier" in rejected.stderr


def test_kubectl_explain_shows_the_descriptions(cluster: apiserver.ServerThread) -> None:
    _install(cluster)

    def explain(path: str) -> str:
        return cluster.kubectl("explain", path).stdout

    def published() -> str | None:
        # The OpenAPI document kubectl reads follows the CRD a moment later.
        text = explain("databases")
        return text if "A managed database." in text else None

    top = eventually(published, message="CRD schema published")
    assert "The desired state of a database." in top
    spec = explain("databases.spec")
    for text in ("How many instances to run.", "Which engine runs the database.", "sqlite"):
        assert text in spec
    assert "Granted roles." in explain("databases.spec.users.roles")
    assert "Days to keep each backup." in explain("databases.spec.backup.retentionDays")


def test_status_and_scale_subresources(cluster: apiserver.ServerThread) -> None:
    raw = _install(cluster)
    cluster.apply(_db("orders", replicas=2).to_object())
    current = Database.from_object(cluster.get_json("database", "orders"))
    current.status = DatabaseStatus(
        replicas=2, ready_replicas=2, selector="app=orders", phase="Ready"
    )
    resp = raw.request("PUT", f"{BASE}/orders/status", current.to_object())
    assert resp.status == 200, resp.body
    assert Database.from_object(resp.json()).status == current.status

    out = cluster.kubectl("scale", "database/orders", "--replicas=5")
    assert "scaled" in out.stdout
    scale = raw.request("GET", f"{BASE}/orders/scale").json()
    assert scale["spec"]["replicas"] == 5
    assert scale["status"] == {"replicas": 2, "selector": "app=orders"}
    after = Database.from_object(cluster.get_json("database", "orders"))
    assert after.spec.replicas == 5 and after.metadata.generation == 2
    rejected = cluster.kubectl("scale", "database/orders", "--replicas=20", check=False)
    assert rejected.returncode != 0 and "spec.replicas" in rejected.stderr


def test_both_versions_are_served(cluster: apiserver.ServerThread) -> None:
    raw = _install(cluster)
    cluster.apply(_db("orders").to_object())
    old = raw.request("GET", "/apis/db.example.com/v1beta1/namespaces/default/databases/orders")
    assert old.status == 200
    assert old.json()["apiVersion"] == "db.example.com/v1beta1"
    assert DatabaseV1beta1.kind_info().path("default", "orders") == (
        "/apis/db.example.com/v1beta1/namespaces/default/databases/orders"
    )


def test_server_side_apply_claims_only_what_was_set(cluster: apiserver.ServerThread) -> None:
    _install(cluster)
    mine = _db("orders", replicas=3)
    mine.spec.users.append(User(name="app"))
    cluster.kubectl(
        "apply", "--server-side", "--field-manager=operator", "-f", "-",
        input=json.dumps(mine.to_object()),
    )  # fmt: skip
    stored = cluster.get_json("database", "orders", "--show-managed-fields")
    (entry,) = [m for m in stored["metadata"]["managedFields"] if m["manager"] == "operator"]
    owned = entry["fieldsV1"]["f:spec"]
    assert set(owned) == {"f:replicas", "f:users"}
    assert stored["spec"]["engine"] == "postgres"  # defaulted by the server, owned by no one


def test_read_modify_write_keeps_everything(cluster: apiserver.ServerThread) -> None:
    raw = _install(cluster)
    cluster.apply(_db("orders", parameters={"a": {"b": 1}}).to_object())
    stored = cluster.get_json("database", "orders")
    obj = Database.from_object(stored)
    assert obj.to_object() == stored  # nothing lost on the way in and out
    obj.spec.replicas = 4
    resp = raw.request("PUT", f"{BASE}/orders", obj.to_object())
    assert resp.status == 200, resp.body
    updated = copy.deepcopy(stored)
    updated["spec"]["replicas"] = 4
    got = resp.json()
    for volatile in ("resourceVersion", "generation", "managedFields"):
        got["metadata"].pop(volatile, None)
        updated["metadata"].pop(volatile, None)
    assert got == updated


def test_a_webhook_conversion_crd_is_accepted(cluster: apiserver.ServerThread) -> None:
    raw = RawClient(cluster)
    hook = crd.Webhook(
        service=crd.ServiceReference("db-operator", "system", path="/convert"),
        ca_bundle=cluster.server.ca_pem,
    )
    resp = raw.request("POST", CRD_PATH, crd.definition(Database, DatabaseV1beta1, conversion=hook))
    assert resp.status == 201, resp.body
    stored = resp.json()["spec"]["conversion"]
    assert stored["strategy"] == "Webhook"
    assert stored["webhook"]["conversionReviewVersions"] == ["v1"]


def test_a_deprecated_version_warns(cluster: apiserver.ServerThread) -> None:
    raw = _install(cluster)
    resp = raw.request("GET", "/apis/db.example.com/v1beta1/namespaces/default/databases")
    assert resp.status == 200
    warning = "db.example.com/v1beta1 Database is deprecated; use v1"
    assert any(warning in w for w in resp.header("Warning")), resp.headers


class NoteSpec(crd.Model):
    text: str | None
    """Required, but may be None: sent and stored as null."""
    limits: dict[str, int | None] = {}
    hint: str | None = None


class Note(crd.CustomResource, group="notes.example.com", version="v1", kind="Note"):
    spec: NoteSpec


def test_nulls_survive_where_they_mean_something(cluster: apiserver.ServerThread) -> None:
    raw = RawClient(cluster)
    assert raw.request("POST", CRD_PATH, crd.definition(Note)).status == 201
    path = Note.kind_info().path("default")
    eventually(lambda: raw.request("GET", path).status == 200, message="served")
    note = Note(metadata=crd.ObjectMeta(name="n"), spec=NoteSpec(text=None, limits={"cpu": None}))
    resp = raw.request("POST", path, note.to_object())
    assert resp.status == 201, resp.body
    assert resp.json()["spec"] == {"text": None, "limits": {"cpu": None}}
    assert Note.from_object(resp.json()).spec == note.spec
    # A null for an optional field is pruned by the server, and reads back as None.
    obj = note.to_object()
    obj["metadata"]["name"] = "m"
    obj["spec"]["hint"] = None
    resp = raw.request("POST", path, obj)
    assert resp.status == 201, resp.body
    assert "hint" not in resp.json()["spec"]
    assert Note.from_object(resp.json()).spec.hint is None
