"""The syntax tree of a parsed template, one class per node kind of client-go's
``jsonpath/node.go`` (``ListNode``, ``TextNode``, ``FieldNode``, ``ArrayNode``, ...).

Design choices: nodes are plain dataclasses (frozen except the list under construction), so
a parsed template is immutable once built and can be shared between evaluations; numbers,
booleans share one :class:`LiteralNode` where upstream has IntNode/FloatNode/BoolNode.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ListNode:
    nodes: list[Node] = field(default_factory=list)


@dataclass(frozen=True)
class TextNode:
    text: str


@dataclass(frozen=True)
class FieldNode:
    name: str


@dataclass(frozen=True)
class Param:
    value: int = 0
    known: bool = False
    derived: bool = False


@dataclass(frozen=True)
class ArrayNode:
    params: tuple[Param, Param, Param]


@dataclass(frozen=True)
class FilterNode:
    left: ListNode
    right: ListNode
    op: str


@dataclass(frozen=True)
class LiteralNode:
    value: int | float | bool


@dataclass(frozen=True)
class WildcardNode:
    pass


@dataclass(frozen=True)
class RecursiveNode:
    pass


@dataclass(frozen=True)
class UnionNode:
    lists: tuple[ListNode, ...]


@dataclass(frozen=True)
class IdentifierNode:
    name: str


Node = (
    ListNode
    | TextNode
    | FieldNode
    | ArrayNode
    | FilterNode
    | LiteralNode
    | WildcardNode
    | RecursiveNode
    | UnionNode
    | IdentifierNode
)
