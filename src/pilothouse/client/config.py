"""Where the cluster is and how to prove who we are: :class:`ClientConfig` and :func:`load`.

Kubeconfig files are parsed by lightkube (a maintained client whose config model follows
client-go's); this module turns the selected context into what our transport needs: a base
URL, a TLS context (cluster CA, client certificate, or verification off when the kubeconfig
says ``insecure-skip-tls-verify``) and an :class:`~pilothouse.client.auth.Auth` provider.

Resolution order, as client-go's: an explicit ``kubeconfig`` path; else ``$KUBECONFIG``
(the first existing file of a ``:``-separated list); else in-cluster service-account
configuration; else ``~/.kube/config``.
"""

from __future__ import annotations

import base64
import os
import pathlib
import ssl
import tempfile
from dataclasses import dataclass, field

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
        for part in env.split(os.pathsep):
            if part and pathlib.Path(part).expanduser().exists():
                return from_kubeconfig(pathlib.Path(part).expanduser(), context)
    if os.environ.get("KUBERNETES_SERVICE_HOST") and (SERVICE_ACCOUNT_DIR / "token").exists():
        return in_cluster()
    default = pathlib.Path("~/.kube/config").expanduser()
    if default.exists():
        return from_kubeconfig(default, context)
    raise ConfigError(
        "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, run in a pod, "
        "or create ~/.kube/config"
    )


def in_cluster(account_dir: pathlib.Path = SERVICE_ACCOUNT_DIR) -> ClientConfig:
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise ConfigError("KUBERNETES_SERVICE_HOST is not set: not running in a pod")
    if ":" in host:
        host = f"[{host}]"
    ctx = ssl.create_default_context(cafile=str(account_dir / "ca.crt"))
    ns_file = account_dir / "namespace"
    namespace = ns_file.read_text().strip() if ns_file.exists() else "default"
    return ClientConfig(
        server=f"https://{host}:{port}",
        ssl_context=ctx,
        auth=auth_mod.TokenFile(account_dir / "token"),
        namespace=namespace,
    )


def from_kubeconfig(path: str | os.PathLike[str], context: str | None = None) -> ClientConfig:
    try:
        conf = lk_kubeconfig.KubeConfig.from_file(path)
        single = conf.get(context_name=context)
    except lk_exceptions.ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if single is None:
        raise ConfigError(f"{path}: no context {context or '(current)'}")
    base = pathlib.Path(path).expanduser().resolve().parent
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


def _file(base: pathlib.Path, name: str) -> str:
    p = pathlib.Path(name).expanduser()
    p = p if p.is_absolute() else base / p
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
    elif cluster.certificate_auth_data:
        ctx = ssl.create_default_context(
            cadata=base64.b64decode(cluster.certificate_auth_data).decode()
        )
    elif cluster.certificate_auth:
        ctx = ssl.create_default_context(cafile=_file(base, cluster.certificate_auth))
    else:
        ctx = ssl.create_default_context()
    if user is not None and (user.client_cert or user.client_cert_data):
        if user.client_cert_data and user.client_key_data:
            _load_chain_from_data(
                ctx,
                base64.b64decode(user.client_cert_data),
                base64.b64decode(user.client_key_data),
            )
        elif user.client_cert and user.client_key:
            ctx.load_cert_chain(_file(base, user.client_cert), _file(base, user.client_key))
        else:
            raise ConfigError("kubeconfig user has a client certificate but no matching key")
    return ctx


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
        return auth_mod.ExecPlugin(
            ex.command,
            ex.args or (),
            {nv.name: nv.value for nv in ex.env or ()},
            ex.apiVersion,
            cluster={"server": cluster.server},
        )
    if user.username and user.password:
        return auth_mod.BasicAuth(user.username, user.password)
    if user.auth_provider:
        raise ConfigError(
            "kubeconfig auth-provider plugins were removed from Kubernetes; use an exec plugin"
        )
    return auth_mod.NoAuth()
