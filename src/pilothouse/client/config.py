"""Where the cluster is and how to prove who we are: :class:`ClientConfig` and :func:`load`.

Kubeconfig files are parsed by lightkube (a maintained client whose config model follows
client-go's); this module turns the selected context into what our transport needs: a base
URL, a TLS context (cluster CA, client certificate, or verification off when the kubeconfig
says ``insecure-skip-tls-verify``) and an :class:`~pilothouse.client.auth.Auth` provider.

Resolution order, as client-go's: an explicit ``kubeconfig`` path; else ``$KUBECONFIG`` (the
existing files of a ``:``-separated list, merged: the first file to define a cluster, user,
context or ``current-context`` wins); else in-cluster service-account configuration; else
``~/.kube/config``. Relative file names in a kubeconfig (certificates, ``tokenFile``, an exec
command containing a ``/``) are relative to the file that names them.
"""

from __future__ import annotations

import base64
import os
import pathlib
import ssl
import tempfile
from dataclasses import dataclass, field
from typing import Any

import yaml
from lightkube.config import kubeconfig as lk_kubeconfig
from lightkube.config import models as lk_models
from lightkube.core import exceptions as lk_exceptions

from pilothouse.client import auth as auth_mod

SERVICE_ACCOUNT_DIR = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ConfigError(Exception):
    """No usable configuration was found, or it names files that do not exist."""


@dataclass
class ClientConfig:
    server: str
    ssl_context: ssl.SSLContext | None = None
    auth: auth_mod.Auth = field(default_factory=auth_mod.NoAuth)
    #: The namespace of the selected context (``default`` when it names none).
    namespace: str = "default"
    context: str | None = None


def load(
    kubeconfig: str | os.PathLike[str] | None = None,
    context: str | None = None,
) -> ClientConfig:
    """Load configuration in client-go's order (see the module docstring)."""
    if kubeconfig is not None:
        return from_kubeconfig(kubeconfig, context)
    env = os.environ.get("KUBECONFIG")
    if env:
        # As client-go: every existing file of the list is merged (the first to define a
        # name wins); missing files are skipped.
        paths = [pathlib.Path(part).expanduser() for part in env.split(os.pathsep) if part]
        existing = [p for p in paths if p.exists()]
        if existing:
            return _from_files(existing, context)
        if _in_cluster_possible():
            return in_cluster()
        raise ConfigError(
            "KUBECONFIG names " + ", ".join(str(p) for p in paths) + ", none of which exists"
        )
    if _in_cluster_possible():
        return in_cluster()
    default = pathlib.Path("~/.kube/config").expanduser()
    if default.exists():
        return from_kubeconfig(default, context)
    raise ConfigError(
        "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, run in a pod, "
        "or create ~/.kube/config"
    )


def _in_cluster_possible() -> bool:
    # SERVICE_ACCOUNT_DIR is read at call time so that tests (and embedders) may point it
    # elsewhere.
    return (
        bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT_DIR / "token").exists()
    )


def in_cluster(account_dir: pathlib.Path | None = None) -> ClientConfig:
    account_dir = SERVICE_ACCOUNT_DIR if account_dir is None else pathlib.Path(account_dir)
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise ConfigError("KUBERNETES_SERVICE_HOST is not set: not running in a pod")
    if ":" in host:
        host = f"[{host}]"
    token, ca = account_dir / "token", account_dir / "ca.crt"
    for needed in (token, ca):
        if not needed.exists():
            raise ConfigError(f"in-cluster configuration needs {needed}, which does not exist")
    try:
        ctx = ssl.create_default_context(cafile=str(ca))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the cluster CA {ca}: {exc}") from exc
    ns_file = account_dir / "namespace"
    namespace = ns_file.read_text().strip() if ns_file.exists() else "default"
    return ClientConfig(
        server=f"https://{host}:{port}",
        ssl_context=ctx,
        auth=auth_mod.TokenFile(token),
        namespace=namespace or "default",
    )


def from_kubeconfig(path: str | os.PathLike[str], context: str | None = None) -> ClientConfig:
    return _from_files([pathlib.Path(path)], context)


def _from_files(paths: list[pathlib.Path], context: str | None) -> ClientConfig:
    """The configuration of ``context`` in the merge of ``paths`` (client-go's rules: the
    first file that defines a cluster, user, context or current-context wins; relative paths
    are relative to the file that names them)."""
    where = str(paths[0]) if len(paths) == 1 else ", ".join(str(p) for p in paths)
    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": []}
    seen: dict[str, set[str]] = {section: set() for section in merged}
    for path in paths:
        doc = _read_kubeconfig(path)
        if not merged.get("current-context") and doc.get("current-context"):
            merged["current-context"] = doc["current-context"]
        for section, names in seen.items():
            entries = doc.get(section) or []
            if not isinstance(entries, list):
                raise ConfigError(f"{path}: {section} is not a list")
            for entry in entries:
                if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                    raise ConfigError(f"{path}: every entry of {section} needs a name")
                if entry["name"] not in names:
                    names.add(entry["name"])
                    merged[section].append(entry)
    try:
        conf = lk_kubeconfig.KubeConfig.from_dict(merged, fname=paths[0])
        single = conf.get(context_name=context)
    except lk_exceptions.ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    except KeyError as exc:
        raise ConfigError(
            f"{where}: context {context or merged.get('current-context')!r} names "
            f"{exc.args[0]!r}, which is not defined"
        ) from exc
    except (TypeError, ValueError) as exc:  # msgspec.ValidationError is a ValueError
        raise ConfigError(f"{where}: invalid kubeconfig: {exc}") from exc
    if single is None:
        raise ConfigError(f"{where}: no context {context or '(current)'}")
    # Relative paths were made absolute while reading; this base only serves absolute ones.
    base = paths[0].expanduser().resolve().parent
    cluster, user = single.cluster, single.user
    return ClientConfig(
        server=cluster.server.rstrip("/"),
        ssl_context=_ssl_context(cluster, user, base)
        if cluster.server.startswith("https")
        else None,
        auth=_auth(user, cluster, base),
        namespace=single.namespace,
        context=single.context_name,
    )


_CLUSTER_PATHS = ("certificate-authority",)
_USER_PATHS = ("client-certificate", "client-key", "tokenFile")


def _read_kubeconfig(path: pathlib.Path) -> dict[str, Any]:
    """One kubeconfig file as a dict, with its relative file references made absolute."""
    path = path.expanduser()
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read kubeconfig {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: not a kubeconfig (expected a mapping)")
    base = path.resolve().parent
    for section, key, fields in (
        ("clusters", "cluster", _CLUSTER_PATHS),
        ("users", "user", _USER_PATHS),
    ):
        for entry in doc.get(section) or ():
            body = entry.get(key) if isinstance(entry, dict) else None
            if not isinstance(body, dict):
                continue
            for name in fields:
                if isinstance(body.get(name), str) and body[name]:
                    body[name] = str(_absolute(base, body[name]))
            ex = body.get("exec")
            # As client-go: an exec command with a path separator is relative to the file;
            # a bare name is looked up on $PATH.
            command = ex.get("command") if isinstance(ex, dict) else None
            if isinstance(ex, dict) and isinstance(command, str) and os.sep in command:
                ex["command"] = str(_absolute(base, command))
    return doc


def _absolute(base: pathlib.Path, name: str) -> pathlib.Path:
    p = pathlib.Path(name).expanduser()
    return p if p.is_absolute() else base / p


def _file(base: pathlib.Path, name: str) -> str:
    p = _absolute(base, name)
    if not p.exists():
        raise ConfigError(f"kubeconfig names {p}, which does not exist")
    return str(p)


def _ssl_context(
    cluster: lk_models.Cluster, user: lk_models.User | None, base: pathlib.Path
) -> ssl.SSLContext:
    if cluster.insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif cluster.certificate_auth_data or cluster.certificate_auth:
        ca = _data_or_file(
            cluster.certificate_auth_data, cluster.certificate_auth, base, "certificate authority"
        )
        try:
            ctx = ssl.create_default_context(cadata=ca.decode())
        except (ssl.SSLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"kubeconfig certificate authority is unusable: {exc}") from exc
    else:
        ctx = ssl.create_default_context()
    if user is not None and (user.client_cert or user.client_cert_data):
        # Certificate and key may each come inline (``-data``) or from a file, independently.
        cert = _data_or_file(user.client_cert_data, user.client_cert, base, "client certificate")
        if not (user.client_key_data or user.client_key):
            raise ConfigError("kubeconfig user has a client certificate but no matching key")
        key = _data_or_file(user.client_key_data, user.client_key, base, "client key")
        try:
            _load_chain_from_data(ctx, cert, key)
        except ssl.SSLError as exc:
            raise ConfigError(f"kubeconfig client certificate or key is unusable: {exc}") from exc
    elif user is not None and (user.client_key or user.client_key_data):
        raise ConfigError("kubeconfig user has a client key but no client certificate")
    return ctx


def _data_or_file(data: str | None, name: str | None, base: pathlib.Path, what: str) -> bytes:
    if data:
        try:
            return base64.b64decode("".join(data.split()), validate=True)
        except ValueError as exc:
            raise ConfigError(f"kubeconfig {what} data is not valid base64") from exc
    assert name is not None
    return pathlib.Path(_file(base, name)).read_bytes()


def _load_chain_from_data(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    # ssl can only load a certificate chain from files: write them to a private temporary
    # directory that is gone as soon as they are loaded.
    with tempfile.TemporaryDirectory() as tmp:
        cert_path = pathlib.Path(tmp) / "tls.crt"
        key_path = pathlib.Path(tmp) / "tls.key"
        cert_path.write_bytes(cert)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        ctx.load_cert_chain(str(cert_path), str(key_path))


def _auth(
    user: lk_models.User | None, cluster: lk_models.Cluster, base: pathlib.Path
) -> auth_mod.Auth:
    if user is None:
        return auth_mod.NoAuth()
    if user.token_file:
        return auth_mod.TokenFile(_file(base, user.token_file))
    if user.token:
        return auth_mod.StaticToken(user.token)
    if user.exec is not None:
        ex = user.exec
        try:
            return auth_mod.ExecPlugin(
                ex.command,
                ex.args or (),
                {nv.name: nv.value for nv in ex.env or ()},
                ex.apiVersion,
                cluster={"server": cluster.server},
            )
        except auth_mod.AuthError as exc:
            raise ConfigError(f"kubeconfig exec plugin: {exc}") from exc
    if user.username and user.password:
        return auth_mod.BasicAuth(user.username, user.password)
    if user.auth_provider:
        raise ConfigError(
            "kubeconfig auth-provider plugins were removed from Kubernetes; use an exec plugin"
        )
    return auth_mod.NoAuth()
