"""What a write request carries besides its body."""

from __future__ import annotations

from dataclasses import dataclass, field

from pilothouse.apiserver import resources
from pilothouse.apiserver.rest import options as options_mod


@dataclass
class RequestContext:
    rt: resources.ResourceType
    namespace: str
    name: str
    subresource: str = ""
    options: options_mod.WriteOptions = field(default_factory=options_mod.WriteOptions)
    user_agent: str = ""
    user_info: dict[str, object] = field(
        default_factory=lambda: {
            "username": "pilothouse-admin",
            "groups": ["system:masters", "system:authenticated"],
        }
    )
    #: Warnings to return in ``Warning`` headers.
    warnings: list[str] = field(default_factory=list)
