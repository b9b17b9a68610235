"""The set of resource types being served, built-in and custom, looked up by URL or by kind.

Custom resource types come and go with their CRDs; every change bumps :attr:`generation` so
that discovery and OpenAPI documents (cached by generation) are rebuilt only when needed.
"""

from __future__ import annotations

from collections.abc import Iterable

from pilothouse.apiserver import catalog, conversion, resources


class TypeRegistry:
    def __init__(self, builtins: Iterable[resources.ResourceType] | None = None) -> None:
        self._by_path: dict[tuple[str, str, str], resources.ResourceType] = {}
        self._by_kind: dict[tuple[str, str], resources.ResourceType] = {}
        self._custom: dict[str, list[resources.ResourceType]] = {}
        self.generation = 0
        for rt in catalog.builtin_types() if builtins is None else builtins:
            self._add(rt)

    def _add(self, rt: resources.ResourceType) -> None:
        self._by_path[(rt.group, rt.version, rt.plural)] = rt
        self._by_kind.setdefault((rt.api_version, rt.kind), rt)

    def lookup(self, group: str, version: str, plural: str) -> resources.ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> resources.ResourceType | None:
        return self._by_kind.get((api_version, kind))

    def by_group_resource(self, group_resource: str) -> resources.ResourceType | None:
        """The version objects of ``group_resource`` are stored as (any served version of
        a custom resource)."""
        plural, _, group = group_resource.partition(".")
        found = None
        for rt in self._by_path.values():
            if rt.plural == plural and rt.group == group:
                if not conversion.needed(rt):
                    return rt
                found = found or rt
        return found

    def all(self) -> list[resources.ResourceType]:
        return list(self._by_path.values())

    def set_custom(self, crd_name: str, types: list[resources.ResourceType]) -> None:
        """Replace the types served for one CRD (empty list: stop serving it)."""
        for rt in self._custom.pop(crd_name, []):
            self._by_path.pop((rt.group, rt.version, rt.plural), None)
            if self._by_kind.get((rt.api_version, rt.kind)) is rt:
                del self._by_kind[(rt.api_version, rt.kind)]
        if types:
            self._custom[crd_name] = types
            for rt in types:
                self._add(rt)
        self.generation += 1

    def custom_types(self) -> list[resources.ResourceType]:
        return [rt for types in self._custom.values() for rt in types]
