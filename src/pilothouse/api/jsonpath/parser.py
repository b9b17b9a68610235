"""The template parser: literal text and ``{actions}`` into a :class:`~.syntax.ListNode`,
a port of client-go's ``jsonpath/parser.go``.

Design choices:

* The parser mirrors upstream's hand-written scanner (same terminators, same escape and
  quote rules, same error texts) but runs as loops instead of tail recursion, so input
  length never hits Python's recursion limit; nesting is bounded by the grammar itself.
* Quirks are kept: ``['a.b']`` is re-parsed as the path ``.a.b`` (two fields), numbers are
  Go's ``strconv`` ints and floats, quoted strings are Go's ``strconv.Unquote`` extended to
  single quotes.
"""

from __future__ import annotations

import math
import re

from pilothouse.api.jsonpath.errors import JsonPathError
from pilothouse.api.jsonpath.syntax import (
    ArrayNode,
    FieldNode,
    FilterNode,
    IdentifierNode,
    ListNode,
    LiteralNode,
    Param,
    RecursiveNode,
    TextNode,
    UnionNode,
    WildcardNode,
)

_EOF = ""
_DICT_KEY = re.compile(r"'([^']*)'")
_SLICE = re.compile(r"(-?[0-9]*)(:-?[0-9]*)?(:-?[0-9]*)?")
_FILTER = re.compile(r"([^!<>=]+)([!<>=]+)(.+?)")
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)")
_INT64 = 1 << 63


def _atoi(value: str) -> int | None:
    """Go's strconv.Atoi (64-bit): optional sign, ASCII digits, in range; else None."""
    if not _INT.fullmatch(value) or len(value.lstrip("+-").lstrip("0")) > 19:
        return None
    number = int(value)
    return number if -_INT64 <= number < _INT64 else None


def _is_terminator(r: str) -> bool:
    return r == _EOF or r in " \t\r\n.,[]$@{}"


def _is_alnum(r: str) -> bool:
    # Go's unicode.IsLetter / IsDigit (category L / Nd); EOF is neither.
    return r == "_" or (r != _EOF and (r.isalpha() or r.isdecimal()))


def _describe_rune(r: str) -> str:
    code = f"U+{ord(r):04X}"
    return f"{code} '{r}'" if r.isprintable() else code


class _Parser:
    def __init__(self, text: str) -> None:
        self.input = text
        self.pos = 0
        self.start = 0
        self.width = 0
        self.root = ListNode()

    # Scanner primitives, as upstream: next/backup/peek over runes, consume since `start`.
    def next(self) -> str:
        if self.pos >= len(self.input):
            self.width = 0
            return _EOF
        self.width = 1
        self.pos += 1
        return self.input[self.pos - 1]

    def backup(self) -> None:
        self.pos -= self.width

    def peek(self) -> str:
        r = self.next()
        self.backup()
        return r

    def consume(self) -> str:
        value = self.input[self.start : self.pos]
        self.start = self.pos
        return value

    def parse(self) -> ListNode:
        while True:
            idx = self.input.find("{", self.pos)
            if idx < 0:
                if len(self.input) > self.start:
                    self.root.nodes.append(TextNode(self.input[self.start :]))
                return self.root
            if idx > self.start:
                self.root.nodes.append(TextNode(self.input[self.start : idx]))
            self.pos = idx + 1
            self.start = self.pos
            action = ListNode()
            self.root.nodes.append(action)
            self._inside_action(action)

    def _inside_action(self, cur: ListNode) -> None:
        while True:
            rest = self.input[self.pos : self.pos + 3]
            if rest.startswith("}"):
                self.pos += 1
                self.start = self.pos
                return
            if rest == "[?(":
                self._filter(cur)
                continue
            if rest.startswith(".."):
                self._recursive(cur)
                continue
            r = self.next()
            if r == _EOF or r in "\r\n":
                raise JsonPathError("unclosed action")
            if r in " @$":  # spaces and the current-object markers carry no meaning
                self.consume()
            elif r == "[":
                self._array(cur)
            elif r in "\"'":
                self._quote(cur, r)
            elif r == ".":
                self._field(cur)
            elif r in "+-" or r.isdecimal():
                self.backup()
                self._number(cur)
            elif _is_alnum(r):
                self.backup()
                self._identifier(cur)
            else:
                raise JsonPathError(f"unrecognized character in action: {_describe_rune(r)}")

    def _identifier(self, cur: ListNode) -> None:
        while not _is_terminator(self.next()):
            pass
        self.backup()
        value = self.consume()
        if value in ("true", "false"):
            cur.nodes.append(LiteralNode(value == "true"))
        else:
            cur.nodes.append(IdentifierNode(value))

    def _recursive(self, cur: ListNode) -> None:
        if cur.nodes and isinstance(cur.nodes[-1], RecursiveNode):
            raise JsonPathError("invalid multiple recursive descent")
        self.pos += 2
        self.consume()
        cur.nodes.append(RecursiveNode())
        if _is_alnum(self.peek()):
            self._field(cur)

    def _number(self, cur: ListNode) -> None:
        if self.peek() in ("+", "-"):
            self.next()
        while True:
            r = self.next()
            if r != "." and not r.isdecimal():
                self.backup()
                break
        value = self.consume()
        integer = _atoi(value)
        if integer is not None:
            cur.nodes.append(LiteralNode(integer))
            return
        if _FLOAT.fullmatch(value) and math.isfinite(number := float(value)):
            cur.nodes.append(LiteralNode(number))
            return
        raise JsonPathError(f"cannot parse number {value}")

    def _array(self, cur: ListNode) -> None:
        while True:
            r = self.next()
            if r in (_EOF, "\n"):
                raise JsonPathError("unterminated array")
            if r == "]":
                break
        text = self.consume()[1:-1]
        if text == "*":
            text = ":"
        parts = text.split(",")
        if len(parts) > 1:
            lists = tuple(_parse_action(f"[{part.strip(' ')}]") for part in parts)
            cur.nodes.append(UnionNode(lists))
            return
        key = _DICT_KEY.fullmatch(text)
        if key is not None:
            # Upstream re-parses 'key' as the path `.key`: dots in it split fields.
            cur.nodes.extend(_parse_action(f".{key.group(1)}").nodes)
            return
        m = _SLICE.fullmatch(text)
        if m is None:
            raise JsonPathError(f"invalid array index {text}")
        raw = [g or "" for g in m.groups()]
        params: list[Param] = []
        for i, value in enumerate(raw):
            if value and i > 0:
                value = value[1:]
                if not value:
                    params.append(Param())
                    continue
            if value:
                index = _atoi(value)
                if index is None:
                    raise JsonPathError(f"array index {value} is not a number")
                params.append(Param(index, known=True))
            elif i == 1:
                # `[n]` is the slice `[n:n+1]`, flagged so that `[-1]` reaches the end.
                params.append(Param(params[0].value + 1, known=True, derived=True))
            else:
                params.append(Param())
        cur.nodes.append(ArrayNode((params[0], params[1], params[2])))

    def _filter(self, cur: ListNode) -> None:
        self.pos += 3
        self.consume()
        begin = end = False
        pair = ""
        while True:
            r = self.next()
            if r in (_EOF, "\n"):
                raise JsonPathError("unterminated filter")
            if r in "\"'":
                if not begin:
                    begin, pair = True, r
                elif self.input[self.pos - 2] != "\\" and r == pair:
                    end = True
            elif r == ")" and begin == end:
                break
        if self.next() != "]":
            raise JsonPathError("unclosed array expect ]")
        text = self.consume()[:-2]
        m = _FILTER.fullmatch(text)
        if m is None:
            cur.nodes.append(FilterNode(_parse_action(text), ListNode(), "exists"))
        else:
            left, op, right = m.groups()
            cur.nodes.append(FilterNode(_parse_action(left), _parse_action(right), op))

    def _quote(self, cur: ListNode, end: str) -> None:
        while True:
            r = self.next()
            if r in (_EOF, "\n"):
                raise JsonPathError("unterminated quoted string")
            if r == end and self.input[self.pos - 2] != "\\":
                break
        value = self.consume()
        try:
            cur.nodes.append(TextNode(_unquote(value)))
        except ValueError as err:
            raise JsonPathError(f"unquote string {value} error {err}") from None

    def _field(self, cur: ListNode) -> None:
        self.consume()
        while True:
            r = self.next()
            if r == "\\":
                self.next()
            elif _is_terminator(r):
                self.backup()
                break
        value = self.consume()
        cur.nodes.append(WildcardNode() if value == "*" else FieldNode(value.replace("\\", "")))


def _parse_action(text: str) -> ListNode:
    node = _Parser("{" + text + "}").parse().nodes[0]
    assert isinstance(node, ListNode)
    return node


_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def _unquote(s: str) -> str:
    """Go's strconv.Unquote, extended to single-quoted strings (upstream UnquoteExtend)."""
    quote, body = s[0], s[1:-1]
    if "\\" not in body and quote not in body:
        return body
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c == quote:
            raise ValueError("invalid syntax")
        if c != "\\":
            out += c.encode("utf-8", "surrogatepass")
            i += 1
            continue
        if i + 1 >= len(body):
            raise ValueError("invalid syntax")
        e = body[i + 1]
        i += 2
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
        elif e in "'\"":
            if e != quote:
                raise ValueError("invalid syntax")
            out.append(ord(e))
        elif e in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i : i + n]
            if len(digits) != n or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                raise ValueError("invalid syntax")
            i += n
            value = int(digits, 16)
            if e == "x":
                out.append(value)
            elif value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                raise ValueError("invalid syntax")
            else:
                out += chr(value).encode()
        elif e in "01234567":
            digits = body[i - 1 : i + 2]
            if not re.fullmatch(r"[0-7]{3}", digits) or int(digits, 8) > 255:
                raise ValueError("invalid syntax")
            out.append(int(digits, 8))
            i += 2
        else:
            raise ValueError("invalid syntax")
    # \x and octal escapes are raw bytes in Go; invalid UTF-8 prints as U+FFFD.
    return out.decode("utf-8", "replace")


def parse_nodes(text: str) -> ListNode:
    """The syntax tree of a full template (literal text with ``{...}`` actions)."""
    return _Parser(text).parse()
