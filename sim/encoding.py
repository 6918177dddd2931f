"""Port encodings shared by the stimulus modules: lanes packed into one integer port value."""

from typing import Any

__all__ = ["pack"]


def pack(values: Any, bits: int, offset: int = 0) -> int:
    """``values`` as ``bits``-wide two's complement fields, lane 0 at bit ``offset``."""
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & ((1 << bits) - 1)) << (offset + i * bits)
    return word
