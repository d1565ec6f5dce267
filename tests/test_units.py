"""Unit conversion: exact factors, every documented spelling, refusals that name the units."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from floodwatch.units import UNITS, canonical, convert


@pytest.mark.parametrize(
    ("value", "src", "dst", "expected"),
    [
        (1.0, "ft", "m", 0.3048),
        (1.0, "m", "ft", 1 / 0.3048),
        (4.36, "ft", "m", 1.328928),
        (1.0, "in", "mm", 25.4),
        (1.008, "inch", "mm", 25.6032),
        (25.4, "mm", "in", 1.0),
        (1.0, "m", "mm", 1000.0),
        (2.5, "cm", "mm", 25.0),
        (1.0, "ft3/s", "m3/s", 0.028316846592),
        (439.0, "cfs", "m³/s", 12.431095653888),
        (1.0, "m3/s", "ft3/s", 35.31466672148859),
        (1.0, "m3/s", "l/s", 1000.0),
    ],
)
def test_conversions_use_exact_factors(value: float, src: str, dst: str, expected: float) -> None:
    assert convert(value, src, dst) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(
    ("spelling", "unit"),
    [
        ("m", "m"), ("metre", "m"), ("metres", "m"), ("meter", "m"), ("meters", "m"),
        ("cm", "cm"), ("centimetres", "cm"), ("mm", "mm"), ("millimetre", "mm"),
        ("millimeters", "mm"), ("ft", "ft"), ("foot", "ft"), ("feet", "ft"), ("in", "in"),
        ("inch", "in"), ("inches", "in"), ("m3/s", "m3/s"), ("m³/s", "m3/s"),
        ("m^3/s", "m3/s"), ("m3 s-1", "m3/s"), ("cumecs", "m3/s"), ("ft3/s", "ft3/s"),
        ("ft³/s", "ft3/s"), ("ft^3/s", "ft3/s"), ("cfs", "ft3/s"), ("CFS", "ft3/s"),
        (" Feet ", "ft"), ("L/s", "l/s"),
    ],
)  # fmt: skip
def test_every_documented_spelling_is_known(spelling: str, unit: str) -> None:
    assert canonical(spelling) == unit
    assert convert(7.0, spelling, unit) == 7.0


def test_an_unknown_unit_converts_only_to_itself() -> None:
    assert convert(42.0, "%", "%") == 42.0
    assert convert(3.0, "°C", " °C ") == 3.0
    with pytest.raises(ValueError, match=r"cannot convert '%' to 'mm': unknown unit '%'"):
        convert(1.0, "%", "mm")
    with pytest.raises(ValueError, match=r"unknown unit 'furlong'"):
        convert(1.0, "m", "furlong")


@pytest.mark.parametrize(("src", "dst"), [("ft", "m3/s"), ("cfs", "mm"), ("in", "l/s")])
def test_units_of_different_things_do_not_convert(src: str, dst: str) -> None:
    with pytest.raises(ValueError, match=rf"cannot convert {src!r} \(\w+\) to {dst!r} \(\w+\)"):
        convert(1.0, src, dst)


@given(
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
    st.sampled_from(["m", "cm", "mm", "ft", "in"]),
    st.sampled_from(["m", "cm", "mm", "ft", "in"]),
)
def test_a_round_trip_returns_the_value(value: float, a: str, b: str) -> None:
    assert convert(convert(value, a, b), b, a) == pytest.approx(value, rel=1e-12, abs=1e-12)


def test_every_unit_has_a_dimension_shared_with_another() -> None:
    dims = [u.dimension for u in UNITS.values()]
    assert all(dims.count(d) > 1 for d in dims)
