"""Client configuration: kubeconfig files (tokens, CAs, client certificates, insecure, basic
auth, exec plugins), ``$KUBECONFIG`` with several files, in-cluster service accounts, and
clear :class:`ConfigError`\\ s naming what is missing. TLS settings are checked by real
handshakes against a small local HTTPS server."""

from __future__ import annotations

import base64
import pathlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from pilothouse import pki
from pilothouse.client import auth as auth_mod
from pilothouse.client import client as client_mod
from pilothouse.client import config as config_mod


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(
    path: pathlib.Path,
    *,
    cluster: dict[str, Any] | None = None,
    user: dict[str, Any] | None = None,
    name: str = "ctx",
    namespace: str | None = None,
    current: bool = True,
    extra: dict[str, Any] | None = None,
) -> pathlib.Path:
    """Write a one-context kubeconfig (entries named ``name``) and return its path."""
    context: dict[str, Any] = {"cluster": name}
    if user is not None:
        context["user"] = name
    if namespace:
        context["namespace"] = namespace
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster or {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": name, "user": user}] if user is not None else [],
        "contexts": [{"name": name, "context": context}],
    }
    if current:
        doc["current-context"] = name
    doc.update(extra or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    """No kubeconfig or in-cluster setting of the machine running the tests leaks in."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(config_mod, "SERVICE_ACCOUNT_DIR", tmp_path / "no-service-account")


# -- a local HTTPS server to handshake with ----------------------------------------------


@dataclass
class Pki:
    ca: pki.CertificateAuthority
    server_cert: bytes
    server_key: bytes
    client_cert: bytes
    client_key: bytes


@pytest.fixture(scope="module")
def certs() -> Pki:
    ca = pki.CertificateAuthority.generate("test-ca")
    server_cert, server_key = pki.issue_server_cert(ca, ["127.0.0.1", "localhost"])
    client_cert, client_key = pki.issue_client_cert(ca, "jane", ["devs"])
    return Pki(ca, server_cert, server_key, client_cert, client_key)


TlsServer = Callable[..., Awaitable[str]]


@pytest.fixture
async def tls_server(certs: Pki) -> AsyncIterator[TlsServer]:
    """Start an HTTPS server answering ``/whoami`` with the client certificate's CN and the
    Authorization header it got; returns its URL."""
    runners: list[web.AppRunner] = []

    async def whoami(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        cn = ""
        for rdn in (peer or {}).get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    cn = value
        return web.json_response({"cn": cn, "authorization": request.headers.get("Authorization")})

    async def start(*, require_client_cert: bool = False) -> str:
        app = web.Application()
        app.router.add_get("/whoami", whoami)
        ctx = pki.ssl_server_context(
            certs.server_cert,
            certs.server_key,
            certs.ca.cert_pem if require_client_cert else None,
            require_client_cert=require_client_cert,
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"https://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def whoami(config: config_mod.ClientConfig) -> dict[str, Any]:
    async with client_mod.Client(config) as c:
        out: dict[str, Any] = await c.request("GET", "/whoami")
        return out


# -- tokens, basic auth ------------------------------------------------------------------


async def test_token_user_and_context_namespace(tmp_path: pathlib.Path) -> None:
    path = kubeconfig(
        tmp_path / "kc",
        cluster={"server": "https://10.0.0.1:6443/"},
        user={"token": "s3cret\n"},
        namespace="team",
    )
    cfg = config_mod.load(path)
    assert cfg.server == "https://10.0.0.1:6443"
    assert cfg.namespace == "team" and cfg.context == "ctx"
    assert isinstance(cfg.auth, auth_mod.StaticToken)
    assert await cfg.auth.header() == "Bearer s3cret"
    cfg.auth.invalidate()
    assert await cfg.auth.header() == "Bearer s3cret"


async def test_token_file_is_relative_to_the_kubeconfig_and_reread_after_invalidate(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_dir = tmp_path / "conf"
    path = kubeconfig(conf_dir / "kc", user={"tokenFile": "secrets/token"})
    (conf_dir / "secrets").mkdir()
    (conf_dir / "secrets" / "token").write_text("one\n")
    monkeypatch.chdir(tmp_path)  # relative to the file, not to the working directory
    cfg = config_mod.load(path)
    assert isinstance(cfg.auth, auth_mod.TokenFile)
    assert await cfg.auth.header() == "Bearer one"
    (conf_dir / "secrets" / "token").write_text("two")
    assert await cfg.auth.header() == "Bearer one"  # cached until told otherwise
    cfg.auth.invalidate()
    assert await cfg.auth.header() == "Bearer two"


async def test_token_file_missing_names_the_file(tmp_path: pathlib.Path) -> None:
    path = kubeconfig(tmp_path / "kc", user={"tokenFile": "nope/token"})
    with pytest.raises(config_mod.ConfigError, match=str(tmp_path / "nope" / "token")):
        config_mod.load(path)


async def test_basic_auth_header_is_sent(tls_server: TlsServer, certs: Pki) -> None:
    url = await tls_server()
    cfg = config_mod.ClientConfig(
        server=url,
        ssl_context=pki.ssl_client_context(certs.ca.cert_pem),
        auth=auth_mod.BasicAuth("admin", "p:ss"),
    )
    out = await whoami(cfg)
    assert out["authorization"] == "Basic " + b64(b"admin:p:ss")


async def test_basic_auth_from_kubeconfig(tmp_path: pathlib.Path) -> None:
    path = kubeconfig(tmp_path / "kc", user={"username": "admin", "password": "pw"})
    cfg = config_mod.load(path)
    assert await cfg.auth.header() == "Basic " + b64(b"admin:pw")


async def test_no_user_means_no_auth(tmp_path: pathlib.Path) -> None:
    cfg = config_mod.load(kubeconfig(tmp_path / "kc", cluster={"server": "http://127.0.0.1:1"}))
    assert isinstance(cfg.auth, auth_mod.NoAuth) and cfg.ssl_context is None
    assert await cfg.auth.header() is None


# -- TLS ---------------------------------------------------------------------------------


async def test_ca_data_and_ca_file_both_verify_the_server(
    tmp_path: pathlib.Path, tls_server: TlsServer, certs: Pki
) -> None:
    url = await tls_server()
    with_data = kubeconfig(
        tmp_path / "a" / "kc",
        cluster={"server": url, "certificate-authority-data": b64(certs.ca.cert_pem)},
        user={"token": "t"},
    )
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "ca.crt").write_bytes(certs.ca.cert_pem)
    with_file = kubeconfig(
        tmp_path / "b" / "kc",
        cluster={"server": url, "certificate-authority": "ca.crt"},
        user={"token": "t"},
    )
    for path in (with_data, with_file):
        cfg = config_mod.load(path)
        assert cfg.ssl_context is not None
        assert cfg.ssl_context.verify_mode == ssl.CERT_REQUIRED
        assert cfg.ssl_context.check_hostname
        assert (await whoami(cfg))["authorization"] == "Bearer t"


async def test_unknown_ca_fails_the_handshake_and_insecure_skips_verification(
    tmp_path: pathlib.Path, tls_server: TlsServer
) -> None:
    url = await tls_server()
    strict = config_mod.load(kubeconfig(tmp_path / "strict", cluster={"server": url}))
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await whoami(strict)
    insecure = config_mod.load(
        kubeconfig(tmp_path / "insecure", cluster={"server": url, "insecure-skip-tls-verify": True})
    )
    assert insecure.ssl_context is not None
    assert insecure.ssl_context.verify_mode == ssl.CERT_NONE
    assert not insecure.ssl_context.check_hostname
    assert (await whoami(insecure))["cn"] == ""


async def test_ca_file_missing_names_the_file(tmp_path: pathlib.Path) -> None:
    path = kubeconfig(
        tmp_path / "kc",
        cluster={"server": "https://127.0.0.1:1", "certificate-authority": "missing-ca.crt"},
    )
    with pytest.raises(config_mod.ConfigError, match=str(tmp_path / "missing-ca.crt")):
        config_mod.load(path)


async def test_client_certificate_data_is_presented(
    tmp_path: pathlib.Path, tls_server: TlsServer, certs: Pki
) -> None:
    url = await tls_server(require_client_cert=True)
    cluster = {"server": url, "certificate-authority-data": b64(certs.ca.cert_pem)}
    path = kubeconfig(
        tmp_path / "kc",
        cluster=cluster,
        user={
            "client-certificate-data": b64(certs.client_cert),
            "client-key-data": b64(certs.client_key),
        },
    )
    cfg = config_mod.load(path)
    assert isinstance(cfg.auth, auth_mod.NoAuth)
    out = await whoami(cfg)
    assert out == {"cn": "jane", "authorization": None}
    # Without a client certificate the server refuses the handshake.
    bare = config_mod.load(kubeconfig(tmp_path / "bare", cluster=cluster))
    with pytest.raises(aiohttp.ClientError):
        await whoami(bare)


async def test_client_certificate_file_with_key_data(
    tmp_path: pathlib.Path, tls_server: TlsServer, certs: Pki
) -> None:
    """Certificate and key may each come from a file or inline, independently (client-go)."""
    url = await tls_server(require_client_cert=True)
    (tmp_path / "tls.crt").write_bytes(certs.client_cert)
    (tmp_path / "tls.key").write_bytes(certs.client_key)
    cluster = {"server": url, "certificate-authority-data": b64(certs.ca.cert_pem)}
    mixed = kubeconfig(
        tmp_path / "mixed",
        cluster=cluster,
        user={"client-certificate": "tls.crt", "client-key-data": b64(certs.client_key)},
    )
    files = kubeconfig(
        tmp_path / "files",
        cluster=cluster,
        user={"client-certificate": "tls.crt", "client-key": "tls.key"},
    )
    for path in (mixed, files):
        assert (await whoami(config_mod.load(path)))["cn"] == "jane"


def test_client_certificate_without_key_or_with_missing_file(
    tmp_path: pathlib.Path, certs: Pki
) -> None:
    cluster = {"server": "https://127.0.0.1:1"}
    no_key = kubeconfig(
        tmp_path / "a", cluster=cluster, user={"client-certificate-data": b64(certs.client_cert)}
    )
    with pytest.raises(config_mod.ConfigError, match="no matching key"):
        config_mod.load(no_key)
    missing = kubeconfig(
        tmp_path / "b",
        cluster=cluster,
        user={"client-certificate": "gone.crt", "client-key-data": b64(certs.client_key)},
    )
    with pytest.raises(config_mod.ConfigError, match=str(tmp_path / "gone.crt")):
        config_mod.load(missing)
    wrong_key = kubeconfig(
        tmp_path / "c",
        cluster=cluster,
        user={
            "client-certificate-data": b64(certs.client_cert),
            "client-key-data": b64(certs.server_key),
        },
    )
    with pytest.raises(config_mod.ConfigError, match="unusable"):
        config_mod.load(wrong_key)


# -- exec plugins ------------------------------------------------------------------------


def test_exec_user_becomes_an_exec_plugin_with_a_relative_command(tmp_path: pathlib.Path) -> None:
    path = kubeconfig(
        tmp_path / "conf" / "kc",
        user={
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": "./bin/plugin",
                "args": ["get-token", "--cluster=x"],
                "env": [{"name": "PLUGIN_MODE", "value": "test"}],
                "provideClusterInfo": True,
                "interactiveMode": "Never",
            }
        },
    )
    cfg = config_mod.load(path)
    assert isinstance(cfg.auth, auth_mod.ExecPlugin)
    # A command with a path separator is relative to the kubeconfig (client-go).
    assert cfg.auth._command == [
        str(tmp_path / "conf" / "bin" / "plugin"),
        "get-token",
        "--cluster=x",
    ]
    assert cfg.auth._env == {"PLUGIN_MODE": "test"}
    bare = kubeconfig(
        tmp_path / "kc2",
        user={"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws"}},
    )
    plugin = config_mod.load(bare).auth
    assert isinstance(plugin, auth_mod.ExecPlugin) and plugin._command == ["aws"]


def test_exec_user_with_bad_api_version_or_none_is_a_config_error(tmp_path: pathlib.Path) -> None:
    bad = kubeconfig(
        tmp_path / "a",
        user={"exec": {"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "x"}},
    )
    with pytest.raises(config_mod.ConfigError, match="v1alpha1"):
        config_mod.load(bad)
    missing = kubeconfig(tmp_path / "b", user={"exec": {"command": "x"}})
    with pytest.raises(config_mod.ConfigError, match="apiVersion"):
        config_mod.load(missing)


def test_auth_provider_is_refused(tmp_path: pathlib.Path) -> None:
    path = kubeconfig(tmp_path / "kc", user={"auth-provider": {"name": "gcp"}})
    with pytest.raises(config_mod.ConfigError, match="exec plugin"):
        config_mod.load(path)


# -- which file, which context -----------------------------------------------------------


def test_kubeconfig_env_with_several_files_is_merged(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = kubeconfig(
        tmp_path / "one" / "kc",
        cluster={"server": "https://one:6443"},
        user={"token": "one"},
        name="one",
    )
    second = kubeconfig(
        tmp_path / "two" / "kc",
        cluster={"server": "https://two:6443"},
        user={"tokenFile": "token"},
        name="two",
        namespace="ns-two",
        extra={
            # Redefines "one": the first file to name an entry wins.
            "clusters": [
                {"name": "two", "cluster": {"server": "https://two:6443"}},
                {"name": "one", "cluster": {"server": "https://impostor:6443"}},
            ]
        },
    )
    (tmp_path / "two" / "token").write_text("from-two")
    missing = tmp_path / "missing" / "kc"
    monkeypatch.setenv("KUBECONFIG", f"{missing}:{first}::{second}")
    cfg = config_mod.load()
    assert (cfg.server, cfg.context) == ("https://one:6443", "one")
    other = config_mod.load(context="two")
    assert (other.server, other.namespace) == ("https://two:6443", "ns-two")
    assert isinstance(other.auth, auth_mod.TokenFile)
    assert other.auth._path == tmp_path / "two" / "token"
    # current-context comes from the first file that sets one.
    monkeypatch.setenv("KUBECONFIG", f"{second}:{first}")
    assert config_mod.load().context == "two"


def test_kubeconfig_env_naming_only_missing_files(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A ~/.kube/config exists but KUBECONFIG takes precedence (as client-go).
    kubeconfig(tmp_path / "home" / ".kube" / "config", cluster={"server": "https://home:1"})
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    monkeypatch.setenv("KUBECONFIG", f"{a}:{b}")
    with pytest.raises(config_mod.ConfigError) as info:
        config_mod.load()
    assert str(a) in str(info.value) and str(b) in str(info.value)


def test_home_kubeconfig_is_the_last_resort(tmp_path: pathlib.Path) -> None:
    with pytest.raises(config_mod.ConfigError, match="no Kubernetes configuration"):
        config_mod.load()
    kubeconfig(tmp_path / "home" / ".kube" / "config", cluster={"server": "https://home:1"})
    assert config_mod.load().server == "https://home:1"


def test_missing_or_broken_files_and_contexts_are_config_errors(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(config_mod.ConfigError, match=str(missing)):
        config_mod.load(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("clusters: [unclosed")
    with pytest.raises(config_mod.ConfigError, match=str(broken)):
        config_mod.load(broken)
    path = kubeconfig(tmp_path / "kc", user={"token": "t"})
    with pytest.raises(config_mod.ConfigError, match="nope"):
        config_mod.load(path, context="nope")
    no_current = kubeconfig(tmp_path / "kc2", user={"token": "t"}, current=False)
    with pytest.raises(config_mod.ConfigError, match=str(no_current)):
        config_mod.load(no_current)
    dangling = kubeconfig(
        tmp_path / "kc3",
        extra={"contexts": [{"name": "ctx", "context": {"cluster": "ghost", "user": "ghost"}}]},
    )
    with pytest.raises(config_mod.ConfigError, match="ghost"):
        config_mod.load(dangling)
    bad_type = kubeconfig(tmp_path / "kc4", cluster={"server": 42})
    with pytest.raises(config_mod.ConfigError, match=str(bad_type)):
        config_mod.load(bad_type)


# -- in-cluster --------------------------------------------------------------------------


def service_account(root: pathlib.Path, certs: Pki, namespace: str | None = "apps") -> pathlib.Path:
    root.mkdir(parents=True)
    (root / "token").write_text("sa-token\n")
    (root / "ca.crt").write_bytes(certs.ca.cert_pem)
    if namespace is not None:
        (root / "namespace").write_text(namespace)
    return root


async def test_in_cluster_from_the_service_account(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, certs: Pki
) -> None:
    sa = service_account(tmp_path / "sa", certs)
    monkeypatch.setattr(config_mod, "SERVICE_ACCOUNT_DIR", sa)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "8443")
    # In a pod, the service account wins over ~/.kube/config.
    kubeconfig(tmp_path / "home" / ".kube" / "config", cluster={"server": "https://home:1"})
    cfg = config_mod.load()
    assert cfg.server == "https://10.96.0.1:8443" and cfg.namespace == "apps"
    assert isinstance(cfg.auth, auth_mod.TokenFile)
    assert await cfg.auth.header() == "Bearer sa-token"
    assert cfg.ssl_context is not None and cfg.ssl_context.get_ca_certs()
    # The kubelet rotates the token in place: a 401 makes the client read it again.
    (sa / "token").write_text("rotated")
    cfg.auth.invalidate()
    assert await cfg.auth.header() == "Bearer rotated"


def test_in_cluster_ipv6_default_port_and_namespace(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, certs: Pki
) -> None:
    sa = service_account(tmp_path / "sa", certs, namespace=None)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    cfg = config_mod.in_cluster(sa)
    assert cfg.server == "https://[fd00::1]:443" and cfg.namespace == "default"


def test_in_cluster_errors_name_what_is_missing(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, certs: Pki
) -> None:
    sa = service_account(tmp_path / "sa", certs)
    with pytest.raises(config_mod.ConfigError, match="KUBERNETES_SERVICE_HOST"):
        config_mod.in_cluster(sa)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    (sa / "ca.crt").unlink()
    with pytest.raises(config_mod.ConfigError, match=str(sa / "ca.crt")):
        config_mod.in_cluster(sa)
    # Without a token the pod has no service account: load() does not pick in-cluster.
    monkeypatch.setattr(config_mod, "SERVICE_ACCOUNT_DIR", tmp_path / "empty")
    with pytest.raises(config_mod.ConfigError, match="no Kubernetes configuration"):
        config_mod.load()
