"""Go-style durations (``"30m"``, ``"1h30m"``, ``"90s"``, ``"1.5h"``) for session timeouts.

Session specs carry ``idleTimeout`` and ``maxSessionDuration`` as strings in the syntax of
Go's ``time.ParseDuration``, because that is what Kubernetes users already write in
manifests (``--timeout=5m``, ``terminationGracePeriod``-style fields in Go operators).

Accepted: one or more ``<number><unit>`` terms, the number a decimal (``1``, ``1.5``,
``.5``), the unit one of ``ns``, ``us`` (or ``µs``/``μs``), ``ms``, ``s``, ``m``, ``h``;
and the bare ``"0"``. Rejected with a :class:`DurationError` naming what is wrong: empty
strings, signs (a negative timeout means nothing here, so ``-`` and ``+`` are refused
rather than silently accepted), missing or unknown units, spaces, and values above
:data:`MAX_SECONDS` (Go's limit of about 290 years, so a value Go accepts is accepted here
too). Days are not a unit, as in Go: write ``"24h"``.

:data:`PATTERN` is the same grammar as a regular expression; the CRD schema uses it so the
API server rejects a malformed duration at admission, before any controller sees it.
"""

from __future__ import annotations

import re

__all__ = ["MAX_SECONDS", "PATTERN", "DurationError", "format_duration", "parse_duration"]

#: Go's ``time.Duration`` is int64 nanoseconds.
MAX_SECONDS = (2**63 - 1) / 1e9

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # U+00B5 micro sign
    "μs": 1e-6,  # U+03BC Greek small letter mu
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
# Longest units first so that "ms" is not read as "m" followed by a stray "s".
_UNIT_RE = "|".join(sorted(map(re.escape, _UNITS), key=len, reverse=True))
_NUMBER_RE = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_TERM = re.compile(rf"({_NUMBER_RE})({_UNIT_RE})")

#: The accepted grammar as a regular expression (for the CRD schema's ``pattern``).
PATTERN = rf"^(0|({_NUMBER_RE}({_UNIT_RE}))+)$"


class DurationError(ValueError):
    """A string that is not a valid duration; the message says why."""


def parse_duration(text: str) -> float:
    """Seconds in ``text`` (see the module docstring for the grammar)."""
    if not isinstance(text, str):
        raise DurationError(f"a duration must be a string like '30m', not {text!r}")
    if text == "":
        raise DurationError("empty duration: write e.g. '30m', '1h30m' or '90s'")
    if text[0] in "+-":
        raise DurationError(f"invalid duration {text!r}: durations must not have a sign")
    if text == "0":
        return 0.0
    total = 0.0
    pos = 0
    while pos < len(text):
        m = _TERM.match(text, pos)
        if m is None:
            rest = text[pos:]
            if re.match(_NUMBER_RE, rest):
                number = re.match(_NUMBER_RE, rest)
                assert number is not None
                after = rest[number.end() :]
                if not after or after[0].isdigit():
                    why = f"missing unit after {number.group()!r}"
                else:
                    unit = re.match(r"[^0-9.]+", after)
                    shown = unit.group() if unit else after
                    why = f"unknown unit {shown!r} (use ns, us, ms, s, m or h)"
            else:
                why = f"expected a number at {rest!r}"
            raise DurationError(f"invalid duration {text!r}: {why}")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if total > MAX_SECONDS:
        raise DurationError(f"invalid duration {text!r}: longer than Go's maximum (~290 years)")
    return total


def format_duration(seconds: float) -> str:
    """A canonical duration string for ``seconds`` (``5400`` → ``"1h30m"``), whole seconds
    and above; fractions of a second are written in ``ms``. Inverse of
    :func:`parse_duration` up to millisecond precision."""
    if seconds < 0:
        raise DurationError(f"cannot format a negative duration ({seconds!r})")
    millis = round(seconds * 1000)
    if millis == 0:
        return "0"
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    parts.append(f"{secs}s" if secs else "")
    parts.append(f"{millis}ms" if millis else "")
    return "".join(parts)
