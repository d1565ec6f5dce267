"""Units of the values floodwatch reads, and conversion between them.

Rules compare a reading with a threshold in the threshold's unit, so every feed states the unit
its source used and ``convert`` brings the value across. Accepted spellings (case does not
matter; surrounding spaces are ignored):

========  ====================================================================
unit      spellings
========  ====================================================================
``m``     ``m``, ``metre``, ``metres``, ``meter``, ``meters``
``cm``    ``cm``, ``centimetre(s)``, ``centimeter(s)``
``mm``    ``mm``, ``millimetre(s)``, ``millimeter(s)``
``ft``    ``ft``, ``foot``, ``feet``
``in``    ``in``, ``inch``, ``inches``
``m3/s``  ``m3/s``, ``m³/s``, ``m^3/s``, ``m3 s-1``, ``cumec``, ``cumecs``
``ft3/s`` ``ft3/s``, ``ft³/s``, ``ft^3/s``, ``cfs``
``l/s``   ``l/s``, ``L/s``
========  ====================================================================

Lengths (water level, rainfall depth) convert among themselves, flows among themselves. A unit
that is not in the table converts only to the same spelling (identity), so a feed may carry
``%`` or ``°C`` through untouched; anything else raises ``ValueError`` naming both units.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Unit:
    """A canonical unit: its symbol, what it measures, and its size in that dimension's base."""

    symbol: str
    dimension: str
    # a value in this unit times `factor` is in the dimension's base unit; a Fraction, so the
    # ratio of two units is exact and 1 in -> mm is 25.4, not 25.400000000000002
    factor: Fraction


_FOOT = Fraction("0.3048")  # exact, by the 1959 international yard and pound agreement
UNITS: dict[str, Unit] = {
    u.symbol: u
    for u in (
        Unit("m", "length", Fraction(1)),
        Unit("cm", "length", Fraction("0.01")),
        Unit("mm", "length", Fraction("0.001")),
        Unit("ft", "length", _FOOT),
        Unit("in", "length", Fraction("0.0254")),
        Unit("m3/s", "flow", Fraction(1)),
        Unit("ft3/s", "flow", _FOOT**3),
        Unit("l/s", "flow", Fraction("0.001")),
    )
}

_SPELLINGS: dict[str, str] = {
    "m": "m", "metre": "m", "metres": "m", "meter": "m", "meters": "m",
    "cm": "cm", "centimetre": "cm", "centimetres": "cm", "centimeter": "cm",
    "centimeters": "cm",
    "mm": "mm", "millimetre": "mm", "millimetres": "mm", "millimeter": "mm",
    "millimeters": "mm",
    "ft": "ft", "foot": "ft", "feet": "ft",
    "in": "in", "inch": "in", "inches": "in",
    "m3/s": "m3/s", "m³/s": "m3/s", "m^3/s": "m3/s", "m3 s-1": "m3/s", "cumec": "m3/s",
    "cumecs": "m3/s",
    "ft3/s": "ft3/s", "ft³/s": "ft3/s", "ft^3/s": "ft3/s", "cfs": "ft3/s",
    "l/s": "l/s",
}  # fmt: skip


def canonical(unit: str) -> str | None:
    """The canonical symbol for a spelling in the table (``"cfs"`` -> ``"ft3/s"``), else None."""
    return _SPELLINGS.get(unit.strip().lower())


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """`value` in `from_unit`, expressed in `to_unit`.

    Raises ValueError when the units measure different things (``ft`` to ``m3/s``) or when
    either is unknown and the two are not the same spelling.
    """
    a, b = canonical(from_unit), canonical(to_unit)
    if a is None or b is None:
        if from_unit.strip() == to_unit.strip():
            return value
        unknown = from_unit if a is None else to_unit
        raise ValueError(
            f"cannot convert {from_unit!r} to {to_unit!r}: unknown unit {unknown!r} "
            f"(known: {', '.join(UNITS)})"
        )
    if a == b:
        return value
    ua, ub = UNITS[a], UNITS[b]
    if ua.dimension != ub.dimension:
        raise ValueError(
            f"cannot convert {from_unit!r} ({ua.dimension}) to {to_unit!r} ({ub.dimension})"
        )
    return value * float(ua.factor / ub.factor)
