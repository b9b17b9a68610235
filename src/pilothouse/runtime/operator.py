"""Operators as installable units: :class:`Operator` and how ``pilothouse run`` finds them.

An operator is a name, a ``setup(manager)`` function that registers its controllers,
webhooks and runnables, and the CRD models it serves. Operators are found two ways:

* installed packages declare them under the ``pilothouse.operators`` entry-point group
  (``storm = "pilothouse.operators.storm:OPERATOR"``), so ``pilothouse run`` runs every
  installed operator, or those named with ``--controllers``;
* ``module:attribute`` specs load one directly (an :class:`Operator`, or a bare
  ``setup(manager)`` function), for operators that are not packaged, and for tests.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pilothouse import crd
    from pilothouse.runtime import manager as manager_mod

ENTRY_POINT_GROUP = "pilothouse.operators"

Setup = Callable[["manager_mod.Manager"], Awaitable[None] | None]


class OperatorError(ValueError):
    """An operator spec names nothing loadable, or something that is not an operator; or
    an operator's ``setup`` found its configuration (its environment) unusable -- raise it
    there, naming the operator, so ``pilothouse run`` reports bad input (exit code 2)
    rather than a crash."""


@dataclass(frozen=True)
class Operator:
    name: str
    setup: Setup
    #: pydantic custom-resource models (``pilothouse.crd.CustomResource``) it serves.
    crds: Sequence[type[crd.CustomResource]] = field(default=())
    description: str = ""

    async def install(self, manager: manager_mod.Manager) -> None:
        result = self.setup(manager)
        if inspect.isawaitable(result):
            await result


def installed() -> dict[str, Operator]:
    """Every operator declared by an installed package, by name."""
    found: dict[str, Operator] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found[ep.name] = _as_operator(ep.load(), ep.name)
    return found


def load(spec: str) -> Operator:
    """Load ``module:attribute`` (or the name of an installed operator)."""
    if ":" not in spec:
        known = installed()
        if spec in known:
            return known[spec]
        names = ", ".join(sorted(known)) or "none are installed"
        raise OperatorError(f"no operator named {spec!r} (installed: {names})")
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise OperatorError(f"cannot import {module_name!r}: {exc}") from exc
    try:
        target: Any = module
        for part in attr.split("."):
            target = getattr(target, part)
    except AttributeError:
        raise OperatorError(f"{module_name!r} has no attribute {attr!r}") from None
    return _as_operator(target, attr)


def select(specs: Sequence[str]) -> list[Operator]:
    """The operators named by ``specs`` (all installed ones when empty)."""
    if not specs:
        return list(installed().values())
    return [load(s) for s in specs]


def _as_operator(target: Any, name: str) -> Operator:
    if isinstance(target, Operator):
        return target
    if callable(target):
        return Operator(name=getattr(target, "__name__", name), setup=target)
    raise OperatorError(f"{name!r} is neither an Operator nor a setup(manager) function")
