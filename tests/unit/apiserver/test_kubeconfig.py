"""Tests for pilothouse.apiserver.kubeconfig: writing, merging and the admin token."""

from __future__ import annotations

import base64
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from pilothouse.apiserver.kubeconfig import ensure_token, load_token, write_kubeconfig

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _read(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def _names(doc: dict[str, Any], key: str) -> list[str]:
    return [e["name"] for e in doc[key]]


def test_write_fresh(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config"
    assert write_kubeconfig(path, "https://127.0.0.1:6443", CA, "tok") == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = _read(path)
    assert doc["apiVersion"] == "v1"
    assert doc["kind"] == "Config"
    assert doc["current-context"] == "pilothouse"
    assert doc["clusters"] == [
        {
            "name": "pilothouse",
            "cluster": {
                "server": "https://127.0.0.1:6443",
                "certificate-authority-data": base64.b64encode(CA).decode(),
            },
        }
    ]
    assert doc["users"] == [{"name": "pilothouse-admin", "user": {"token": "tok"}}]
    assert doc["contexts"] == [
        {"name": "pilothouse", "context": {"cluster": "pilothouse", "user": "pilothouse-admin"}}
    ]
    assert not (tmp_path / "sub" / "config.lock").exists()
    assert sorted(p.name for p in path.parent.iterdir()) == ["config"]


def test_merge_keeps_other_entries(tmp_path: Path) -> None:
    path = tmp_path / "config"
    existing = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "kind-kind", "cluster": {"server": "https://1.2.3.4"}},
            {"name": "pilothouse", "cluster": {"server": "https://old"}},
        ],
        "users": [{"name": "kind-kind", "user": {"token": "x"}}],
        "contexts": [
            {"name": "kind-kind", "context": {"cluster": "kind-kind", "user": "kind-kind"}}
        ],
        "current-context": "kind-kind",
        "preferences": {"colors": True},
    }
    path.write_text(yaml.safe_dump(existing))
    path.chmod(0o644)
    write_kubeconfig(path, "https://127.0.0.1:7443", CA, "new", merge=True)
    doc = _read(path)
    assert _names(doc, "clusters") == ["kind-kind", "pilothouse"]
    assert doc["clusters"][1]["cluster"]["server"] == "https://127.0.0.1:7443"
    assert _names(doc, "users") == ["kind-kind", "pilothouse-admin"]
    assert _names(doc, "contexts") == ["kind-kind", "pilothouse"]
    assert doc["current-context"] == "pilothouse"
    assert doc["preferences"] == {"colors": True}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_merge_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "config"
    write_kubeconfig(path, "https://a", CA, "t1")
    write_kubeconfig(path, "https://b", CA, "t2")
    doc = _read(path)
    assert _names(doc, "clusters") == ["pilothouse"]
    assert doc["users"] == [{"name": "pilothouse-admin", "user": {"token": "t2"}}]


def test_custom_context_name(tmp_path: Path) -> None:
    path = tmp_path / "config"
    write_kubeconfig(path, "https://a", CA, "t1")
    write_kubeconfig(path, "https://b", CA.decode(), "t2", context="dev")
    doc = _read(path)
    assert _names(doc, "clusters") == ["pilothouse", "dev"]
    assert _names(doc, "users") == ["pilothouse-admin", "dev-admin"]
    assert doc["current-context"] == "dev"


def test_without_ca(tmp_path: Path) -> None:
    path = tmp_path / "config"
    write_kubeconfig(path, "http://127.0.0.1:8080", b"", "t")
    assert _read(path)["clusters"][0]["cluster"] == {"server": "http://127.0.0.1:8080"}


def test_no_merge_replaces(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({"clusters": [{"name": "other", "cluster": {}}]}))
    write_kubeconfig(path, "https://a", CA, "t", merge=False)
    assert _names(_read(path), "clusters") == ["pilothouse"]


@pytest.mark.parametrize("content", ["- a\n- b\n", "clusters: {a: 1}\n", "a: [\n"])
def test_invalid_existing_file_is_not_clobbered(tmp_path: Path, content: str) -> None:
    path = tmp_path / "config"
    path.write_text(content)
    with pytest.raises(ValueError, match="kubeconfig"):
        write_kubeconfig(path, "https://a", CA, "t")
    assert path.read_text() == content
    assert not (tmp_path / "config.lock").exists()


def test_empty_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("")
    write_kubeconfig(path, "https://a", CA, "t")
    assert _read(path)["current-context"] == "pilothouse"


def test_lock_held_by_someone_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pilothouse.apiserver.kubeconfig as kc

    monkeypatch.setattr(kc, "_LOCK_TIMEOUT", 0.0)
    path = tmp_path / "config"
    (tmp_path / "config.lock").write_text("")
    with pytest.raises(TimeoutError, match=r"config\.lock"):
        write_kubeconfig(path, "https://a", CA, "t")
    assert not path.exists()
    assert (tmp_path / "config.lock").exists()


def test_token_lifecycle(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with pytest.raises(FileNotFoundError):
        load_token(state)
    token = ensure_token(state)
    assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) == 32
    assert stat.S_IMODE((state / "token").stat().st_mode) == 0o600
    assert ensure_token(state) == token
    assert load_token(state) == token
    assert sorted(p.name for p in state.iterdir()) == ["token"]


def test_tokens_are_random(tmp_path: Path) -> None:
    assert ensure_token(tmp_path / "a") != ensure_token(tmp_path / "b")


def test_empty_token_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        load_token(tmp_path)
