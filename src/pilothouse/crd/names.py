"""Resource names: the default plural of a kind, and the checks kube makes on names.

:func:`plural_of` follows the rules kube's own code generators (gengo) and kube-rs apply to
a lower-cased kind, so a CRD generated here is addressed by the same plural a Go or Rust
operator would pick: ``s``/``x``/``z``/``ch``/``sh`` take ``es`` (``Ingress`` →
``ingresses``), a consonant followed by ``y`` becomes ``ies`` (``Policy`` → ``policies``),
everything else takes ``s`` (``Gateway`` → ``gateways``). There is no dictionary of
irregular nouns -- pass ``plural=`` for those (``Person`` → ``people``).

:func:`check_names` applies the API server's CRD name rules up front, with its wording, so
that a typo fails when the class statement runs rather than at ``kubectl apply`` time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pilothouse.api import validation

from .errors import CRDError

__all__ = ["check_names", "plural_of", "version_sort_key"]

_ES_SUFFIXES = ("s", "x", "z", "ch", "sh")
_VOWELS = "aeiou"


def plural_of(kind: str) -> str:
    """The lower-case plural resource name of ``kind`` (``Policy`` → ``policies``)."""
    word = kind.lower()
    if word.endswith(_ES_SUFFIXES):
        return word + "es"
    if len(word) >= 2 and word.endswith("y") and word[-2] not in _VOWELS:
        return word[:-1] + "ies"
    return word + "s"


def _fail(what: str, value: str, problems: Iterable[str]) -> None:
    msgs = list(problems)
    if msgs:
        raise CRDError(f"invalid {what} {value!r}: {'; '.join(msgs)}")


def check_names(
    *,
    group: str,
    version: str,
    kind: str,
    plural: str,
    singular: str,
    short_names: Iterable[str],
    categories: Iterable[str],
) -> None:
    """Raise :class:`CRDError` for any name the API server would reject in a CRD."""
    _fail("group", group, validation.is_dns1123_subdomain(group))
    if "." not in group:
        # Groups without a dot are reserved for Kubernetes' own APIs.
        raise CRDError(f"invalid group {group!r}: should be a domain with at least one dot")
    _fail("version", version, validation.is_dns1035_label(version))
    if not kind or not kind[0].isupper():
        raise CRDError(f"invalid kind {kind!r}: must be CamelCase, starting with a capital")
    _fail("kind", kind, validation.is_dns1035_label(kind.lower()))
    _fail("plural", plural, validation.is_dns1035_label(plural))
    _fail("singular", singular, validation.is_dns1035_label(singular))
    _fail("CRD name", f"{plural}.{group}", validation.is_dns1123_subdomain(f"{plural}.{group}"))
    for name in short_names:
        _fail("short name", name, validation.is_dns1035_label(name))
    for name in categories:
        _fail("category", name, validation.is_dns1035_label(name))


_KUBE_VERSION = re.compile(r"v([1-9][0-9]*)(?:(alpha|beta)([1-9][0-9]*))?")


def version_sort_key(version: str) -> tuple[int, int, int, str]:
    """Sort key putting versions in kube's priority order (``v2``, ``v1``, ``v1beta2``,
    ``v1beta1``, ``v1alpha1``, then anything else alphabetically): the order of discovery,
    hence of the preferred version ``kubectl`` picks."""
    m = _KUBE_VERSION.fullmatch(version)
    if not m:
        return (3, 0, 0, version)
    major, stage, minor = int(m[1]), m[2], int(m[3] or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -major, -minor, version)
