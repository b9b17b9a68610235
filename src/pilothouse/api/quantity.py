"""``resource.Quantity`` parsing, comparison and canonical printing.

kube-apiserver never stores the string a client sent for a quantity: it parses it, the
``ResourceList`` defaulter rounds it up to milli precision, and it is written back with
``Quantity.String()``. So ``cpu: "0.5"`` reads back as ``500m``, ``memory: 1.5Gi`` as
``1536Mi`` and ``cpu: 1000m`` as ``1``. :func:`canonical` reproduces that string; the same
text appears in validation messages (``must be less than or equal to cpu limit of 1``).

Design choices: values are :class:`decimal.Decimal` so that arbitrary precision survives
(Go switches to ``inf.Dec`` for the same reason); the *format* (decimal SI, binary SI or
decimal exponent) is remembered from the suffix, because it decides how the value prints,
exactly as in Go.
"""

from __future__ import annotations

import decimal
import enum
import re
from dataclasses import dataclass

_CTX = decimal.Context(prec=200)

_DEC_SUFFIXES = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_BIN_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
#: Decimal SI suffix -> power of ten, and binary SI suffix -> power of two (read-only).
DECIMAL_SUFFIXES = _DEC_SUFFIXES
BINARY_SUFFIXES = _BIN_SUFFIXES
_DEC_BY_EXPONENT = {v: k for k, v in _DEC_SUFFIXES.items()}
_BIN_BY_EXPONENT = {v: k for k, v in _BIN_SUFFIXES.items()}
_NUMBER_RE = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)", re.DOTALL)
_MILLI = decimal.Decimal("0.001")

#: The message a malformed quantity produces when kube decodes the request body.
QUANTITY_FORMAT_ERROR = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)


class Format(enum.Enum):
    DECIMAL_SI = "DecimalSI"
    BINARY_SI = "BinarySI"
    DECIMAL_EXPONENT = "DecimalExponent"


@dataclass(frozen=True)
class Quantity:
    value: decimal.Decimal
    format: Format

    def rounded_to_milli(self) -> Quantity:
        """``RoundUp(-3)``: away from zero, as the ResourceList defaulter does."""
        rounded = self.value.quantize(_MILLI, rounding=decimal.ROUND_UP, context=_CTX)
        return Quantity(rounded, self.format)

    def __str__(self) -> str:
        return _canonical(self)


def parse(value: object) -> Quantity | None:
    """Parse a quantity as JSON carries it (a string, or a bare number); None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        value = repr(value) if isinstance(value, float) else str(value)
    if not isinstance(value, str) or not value:
        return None
    m = _NUMBER_RE.fullmatch(value)
    if m is None:
        return None
    sign, whole, frac, suffix = m.groups()
    if not whole and not frac:
        return None
    number = decimal.Decimal(f"{sign}{whole or '0'}.{frac or '0'}")
    if suffix in _DEC_SUFFIXES:
        scaled = number.scaleb(_DEC_SUFFIXES[suffix], context=_CTX)
        return Quantity(scaled, Format.DECIMAL_SI)
    if suffix in _BIN_SUFFIXES:
        scaled = _CTX.multiply(number, decimal.Decimal(2) ** _BIN_SUFFIXES[suffix])
        return Quantity(scaled, Format.BINARY_SI)
    if len(suffix) > 1 and suffix[0] in "eE" and re.fullmatch(r"[+-]?[0-9]+", suffix[1:]):
        exponent = int(suffix[1:])
        if abs(exponent) > 10_000:
            return None
        return Quantity(number.scaleb(exponent, context=_CTX), Format.DECIMAL_EXPONENT)
    return None


def canonical(value: object) -> str | None:
    """The string kube would serialise after defaulting (milli rounding included)."""
    q = parse(value)
    return None if q is None else str(q.rounded_to_milli())


def _canonical(q: Quantity) -> str:
    value = q.value
    if value.is_zero():
        return "0"
    fmt = q.format
    if fmt is Format.BINARY_SI and (abs(value) < 1024 or value != value.to_integral_value()):
        # Small or fractional binary quantities would need rounding: Go shows them decimal.
        fmt = Format.DECIMAL_SI
    if fmt is Format.BINARY_SI:
        mantissa = int(value)
        exponent = 0
        while exponent < 60 and mantissa % 1024 == 0:
            mantissa //= 1024
            exponent += 10
        return f"{mantissa}{_BIN_BY_EXPONENT.get(exponent, '')}"
    mantissa, exponent = _decimal_mantissa(value)
    if fmt is Format.DECIMAL_EXPONENT:
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    suffix = _DEC_BY_EXPONENT.get(exponent)
    if suffix is None:
        return f"{mantissa}e{exponent}"
    return f"{mantissa}{suffix}"


def _decimal_mantissa(value: decimal.Decimal) -> tuple[int, int]:
    # Strip every factor of ten, then lower the exponent to a multiple of three.
    sign, digits, exp = value.normalize(_CTX).as_tuple()
    assert isinstance(exp, int)
    mantissa = int("".join(map(str, digits)) or "0")
    shift = exp % 3
    mantissa *= 10**shift
    exp -= shift
    return (-mantissa if sign else mantissa), exp
