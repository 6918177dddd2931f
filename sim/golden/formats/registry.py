"""The table of canonical formats by name and the lookup that resolves a name."""

from __future__ import annotations

from typing import TypeAlias

from .floating import FloatFormat
from .integer import BinaryFormat, IntFormat, TernaryFormat

__all__ = [
    "FORMATS",
    "Format",
    "SCALE_FORMAT_NAMES",
    "get_float_format",
    "get_format",
]

# Formats accepted for quantization scales; narrower formats such as fp8_e5m2 or
# fp4 are deliberately excluded because their 2-3 significant bits make the scale
# itself the dominant error source.
SCALE_FORMAT_NAMES: tuple[str, ...] = ("fp16", "bf16", "fp32", "fp8_e4m3")


Format: TypeAlias = IntFormat | TernaryFormat | BinaryFormat | FloatFormat
"""Any number format defined in this package."""


def _build_formats() -> dict[str, Format]:
    """Create the registry of canonical formats."""
    formats: dict[str, Format] = {}
    for bits in range(2, 17):
        fmt = IntFormat(bits, True)
        formats[fmt.name] = fmt
    for bits in range(1, 17):
        fmt = IntFormat(bits, False)
        formats[fmt.name] = fmt
    formats["ternary"] = TernaryFormat()
    formats["binary"] = BinaryFormat()
    for ffmt in (
        FloatFormat("fp4_e2m1", 2, 1, 1, False, "none"),
        FloatFormat("fp8_e4m3", 4, 3, 7, False, "all_ones"),
        FloatFormat("fp8_e5m2", 5, 2, 15, True, "ieee"),
        FloatFormat("fp16", 5, 10, 15, True, "ieee"),
        FloatFormat("bf16", 8, 7, 127, True, "ieee"),
        FloatFormat("fp32", 8, 23, 127, True, "ieee"),
    ):
        formats[ffmt.name] = ffmt
    return formats


FORMATS: dict[str, Format] = _build_formats()
"""All canonical formats by name."""


def get_format(name: str | Format) -> Format:
    """Look up a format by canonical name; format objects are returned unchanged.

    Parameters
    ----------
    name : str or Format
        Canonical name (e.g. ``"int8"``, ``"fp8_e4m3"``) or a format object.

    Returns
    -------
    Format
        The format.

    Raises
    ------
    ValueError
        If the name is unknown; the message lists the allowed names.
    TypeError
        If ``name`` is neither a str nor a format object.
    """
    if isinstance(name, (IntFormat, TernaryFormat, BinaryFormat, FloatFormat)):
        return name
    if not isinstance(name, str):
        raise TypeError(
            f"format must be a str name or a format object, got {name!r} of type "
            f"{type(name).__name__}"
        )
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown format name {name!r}; allowed: {', '.join(FORMATS)}") from None


def get_float_format(name: str | FloatFormat) -> FloatFormat:
    """:func:`get_format` for a floating-point format (a float format object is returned
    unchanged).

    Raises
    ------
    ValueError
        If the name is unknown, or names a format that is not a floating-point one.
    """
    fmt = get_format(name)
    if not isinstance(fmt, FloatFormat):
        floats = ", ".join(n for n, f in FORMATS.items() if isinstance(f, FloatFormat))
        raise ValueError(f"{fmt.name!r} is not a floating-point format; allowed: {floats}")
    return fmt
