"""Go regular expressions and the string formats CRD schemas validate.

* :func:`pattern_error` and :func:`pattern_matches` handle a schema ``pattern`` as Go's
  ``regexp`` would: compiled with RE2 (``google-re2``, which cel-python already depends on;
  the ``re`` module otherwise), unanchored search, and compile errors reworded from RE2's
  C++ text into Go's ``regexp/syntax`` wording. Compiled patterns are cached.
* :func:`format_valid` checks a ``format`` the way kube-openapi's ``strfmt`` registry does
  (``hostname``, ``uri``, ``cidr``, ``uuid4``, ``byte``, ``duration``, ``datetime``...);
  dashes are ignored in format names, as ``strfmt`` normalises them.
  :func:`format_supported` says whether the server keeps a format at all: CRDs may only
  use :data:`SUPPORTED_FORMATS`, every other format (``int32``, ``quantity``...) is
  stripped and never validated.
* :func:`dns1035_errors` is ``validation.IsDNS1035Label``, used for embedded ``kind``.

Design choice: each checker reproduces the Go validator's acceptance rules, including its
lenient corners (loose duration units, ``ParseRequestURI`` accepting opaque URIs), rather
than a stricter reading of the RFCs, because objects the real server accepts must pass.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import re
from collections.abc import Callable
from typing import Any

_re2: Any
try:  # RE2 is what Go uses; cel-python ships the bindings.
    import re2 as _re2  # type: ignore[import-untyped, no-redef]
except ImportError:  # pragma: no cover - depends on the environment
    _re2 = None

__all__ = [
    "SUPPORTED_FORMATS",
    "dns1035_errors",
    "format_supported",
    "format_valid",
    "pattern_error",
    "pattern_matches",
]

# -- regular expressions -------------------------------------------------------------------

_RE2_TO_GO = {
    "missing )": "missing closing )",
    "missing ]": "missing closing ]",
    "unexpected )": "unexpected )",
    "bad repetition operator": "invalid nested repetition operator",
    "missing argument to repetition operator": "missing argument to repetition operator",
    "invalid escape sequence": "invalid escape sequence",
    "invalid character class range": "invalid character class range",
    "invalid repetition size": "invalid repeat count",
    "invalid named capture group": "invalid named capture",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "no argument for repetition operator": "missing argument to repetition operator",
}


@functools.lru_cache(maxsize=1024)
def _regex(pattern: str) -> Callable[[str], bool] | str:
    """A search function for a Go (RE2) pattern, or the compile error text."""
    try:
        if _re2 is not None:
            compiled = _re2.compile(pattern)
        else:  # pragma: no cover - fallback without RE2
            compiled = re.compile(pattern.replace(r"\z", r"\Z"))
    except Exception as exc:  # both libraries raise their own error types
        msg = exc.args[0] if exc.args else exc
        text = msg.decode(errors="replace") if isinstance(msg, bytes) else str(msg)
        what, sep, arg = text.partition(": ")
        if sep and what in _RE2_TO_GO:  # RE2's C++ wording, rephrased as Go's regexp/syntax
            text = f"{_RE2_TO_GO[what]}: `{arg}`"
        return f"error parsing regexp: {text}"
    return lambda s: compiled.search(s) is not None


def pattern_error(pattern: str) -> str | None:
    """Go's compile error for ``pattern`` (``error parsing regexp: ...``), or None."""
    r = _regex(pattern)
    return r if isinstance(r, str) else None


def pattern_matches(pattern: str, value: str) -> bool:
    """Whether ``pattern`` compiles and matches somewhere in ``value``."""
    r = _regex(pattern)
    return not isinstance(r, str) and r(value)


# -- formats -------------------------------------------------------------------------------

#: Formats CRD schemas validate; every other format is stripped by the server.
SUPPORTED_FORMATS = frozenset(
    {"bsonobjectid", "uri", "email", "hostname", "ipv4", "ipv6", "cidr", "mac", "uuid", "uuid3"}
    | {"uuid4", "uuid5", "isbn", "isbn10", "isbn13", "creditcard", "ssn", "hexcolor", "rgbcolor"}
    | {"byte", "password", "date", "duration", "datetime"}
)

_HOSTNAME = (
    r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}]"
    r"(([a-zA-Z0-9-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z0-9\p{S}\p{L}])"
    r"(-?[a-zA-Z0-9\p{S}\p{L}]){1,62})$"
)
_UUID = r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?%s[0-9a-f]{3}-?%s[0-9a-f]{3}-?[0-9a-f]{12}$"
_EMAIL_PART = r"[^\s@<>()\[\]\\,;:\"]+"
_EMAIL = re.compile(rf"^(?:{_EMAIL_PART}@{_EMAIL_PART}|[^<>]*<{_EMAIL_PART}@{_EMAIL_PART}>)$")
_GO_DURATION = re.compile(r"^[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$|^[-+]?0$")
_LOOSE_DURATION = re.compile(r"(\d+)\s*([A-Za-zµ]+)")
_DURATION_UNITS: tuple[tuple[str, ...], ...] = (("ns", "nano"), ("us", "µs", "micro"))
_DURATION_UNITS += (("ms", "milli"), ("s", "sec"), ("m", "min"), ("h", "hr", "hour"))
_DURATION_UNITS += (("d", "day"), ("w", "wk", "week"))
_DATE_TIME = re.compile(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$")
_RGB = r"\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*"
_CREDIT_CARD = re.compile(
    r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|(222[1-9]|22[3-9][0-9]|2[3-6][0-9]{2}|"
    r"27[01][0-9]|2720)[0-9]{12}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|"
    r"3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11}|6[27][0-9]{14})$"
)


def _is_date(s: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
        return False
    try:
        datetime.date(int(s[:4]), int(s[5:7]), int(s[8:]))
    except ValueError:
        return False
    return True


def _is_datetime(s: str) -> bool:
    parts = s.lower().split("t")
    if len(s) < 4 or len(parts) < 2 or not _is_date(parts[0]):
        return False
    m = _DATE_TIME.match(parts[1])
    return m is not None and m.group(1) <= "23" and m.group(2) <= "59" and m.group(3) <= "59"


def _is_duration(s: str) -> bool:
    if _GO_DURATION.match(s):
        return True
    for _, unit in _LOOSE_DURATION.findall(s):
        u = unit.strip().lower()
        for variants in _DURATION_UNITS:
            if u in variants or u.startswith(variants[-1]):
                return True
    return False


def _ip(s: str) -> bool:
    if "%" in s:  # Go's ParseIP rejects zones
        return False
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


def _is_cidr(s: str) -> bool:
    addr, _, bits = s.partition("/")
    if not bits.isdigit() or not _ip(addr):
        return False
    try:
        ipaddress.ip_network(s, strict=False)
    except ValueError:
        return False
    return True


def _is_mac(s: str) -> bool:
    for sep, width, counts in ((":", 2, (6, 8, 20)), ("-", 2, (6, 8, 20)), (".", 4, (3, 4, 10))):
        parts = s.split(sep)
        if len(parts) in counts and all(re.fullmatch(rf"[0-9a-fA-F]{{{width}}}", p) for p in parts):
            return True
    return False


def _is_uri(s: str) -> bool:
    # Go's url.ParseRequestURI: an absolute URI (opaque or hierarchical) or an absolute
    # path, without control characters, with a sane host and valid percent-escapes.
    if not s or any(ord(c) < 0x20 or c == "\x7f" for c in s):
        return False
    if s == "*":
        return True
    m = re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", s)
    rest = (s[m.end() :] if m else s).split("?", 1)[0]
    if not rest.startswith("/"):
        return m is not None
    if m and rest.startswith("//"):
        host = rest[2:].split("/", 1)[0].rsplit("@", 1)[-1]
        if not re.fullmatch(r"[\w.\-~%!$&'()*+,;=:\[\]]*", host):
            return False
    return re.search(r"%(?![0-9a-fA-F]{2})", s) is None


def _isbn(s: str, version: int) -> bool:
    d = re.sub(r"[\s-]", "", s)
    if version == 10:
        if not re.fullmatch(r"[0-9]{9}[0-9X]", d):
            return False
        total = sum((i + 1) * int(c) for i, c in enumerate(d[:9]))
        return (total + 10 * (10 if d[9] == "X" else int(d[9]))) % 11 == 0
    if not re.fullmatch(r"[0-9]{13}", d):
        return False
    return sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(d)) % 10 == 0


def _luhn(s: str) -> bool:
    d = re.sub(r"[^0-9]", "", s)
    if not _CREDIT_CARD.match(d):
        return False
    total = 0
    for i, c in enumerate(reversed(d)):
        n = int(c) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _rx(pattern: str) -> Callable[[str], bool]:
    return lambda s: pattern_matches(pattern, s)


_FORMATS: dict[str, Callable[[str], bool]] = {
    "bsonobjectid": lambda s: re.fullmatch(r"[0-9a-fA-F]{24}", s) is not None,
    "uri": _is_uri,
    "email": lambda s: _EMAIL.match(s) is not None,
    "hostname": lambda s: (
        pattern_matches(_HOSTNAME, s) and len(s) <= 255 and all(len(p) <= 63 for p in s.split("."))
    ),
    "ipv4": lambda s: _ip(s) and "." in s,
    "ipv6": lambda s: _ip(s) and ":" in s,
    "cidr": _is_cidr,
    "mac": _is_mac,
    "uuid": _rx(_UUID % ("[0-9a-f]", "[0-9a-f]")),
    "uuid3": _rx(_UUID % ("3", "[0-9a-f]")),
    "uuid4": _rx(_UUID % ("4", "[89ab]")),
    "uuid5": _rx(_UUID % ("5", "[89ab]")),
    "isbn": lambda s: _isbn(s, 10) or _isbn(s, 13),
    "isbn10": lambda s: _isbn(s, 10),
    "isbn13": lambda s: _isbn(s, 13),
    "creditcard": _luhn,
    "ssn": lambda s: len(s) == 11 and re.fullmatch(r"\d{3}[- ]?\d{2}[- ]?\d{4}", s) is not None,
    "hexcolor": lambda s: re.fullmatch(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})", s) is not None,
    "rgbcolor": lambda s: re.fullmatch(rf"rgb\({_RGB},{_RGB},{_RGB}\)", s) is not None,
    "byte": lambda s: (
        re.fullmatch(
            r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})", s
        )
        is not None
    ),
    "password": lambda s: True,
    "date": _is_date,
    "duration": _is_duration,
    "datetime": _is_datetime,
}


def format_supported(fmt: str) -> bool:
    """Whether CRD schemas keep ``fmt`` (the server strips the others)."""
    return fmt.replace("-", "") in SUPPORTED_FORMATS


def format_valid(fmt: str, value: str) -> bool:
    """Whether ``value`` is valid for ``fmt``; unknown formats accept everything."""
    check = _FORMATS.get(fmt.replace("-", ""))
    return check is None or check(value)


def dns1035_errors(value: str) -> list[str]:
    """``validation.IsDNS1035Label``: the problems with ``value``, empty if none."""
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", value):
        errs.append(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
            "start with an alphabetic character, and end with an alphanumeric character "
            "(e.g. 'my-name',  or 'abc-123', regex used for validation is "
            "'[a-z]([-a-z0-9]*[a-z0-9])?')"
        )
    return errs
