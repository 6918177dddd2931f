"""Port descriptions as pure data: one definition per port, from which everything else derives.

A port's value is a tree of fields: :class:`Bits` (an integer field of ``width`` bits, two's
complement when ``signed``), :class:`Array` (``length`` elements of one field, element 0 in the
least significant bits) and :class:`Struct` (named fields, the first in the least significant
bits). The Amaranth layout of a port (:func:`mpgemm.hw.contract.layout_of`), the integer a
testbench drives onto it (:meth:`Field.pack`), the value a monitor reads back
(:meth:`Field.unpack`) and the cost model's port widths (:attr:`Field.width`) are all read from
the same description, so they cannot disagree. These are the bit orders Amaranth's
``data.ArrayLayout`` and ``data.StructLayout`` use.

Every PE config describes its contract ports with :class:`PEPorts`; the control struct of the
PE contract is :data:`PE_CONTROL`.
"""

import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Bits", "Array", "Struct", "Field", "PEPorts", "PE_CONTROL"]


@dataclass(frozen=True)
class Bits:
    """An integer field of ``width`` bits (two's complement when ``signed``)."""

    width: int
    signed: bool = False

    def __post_init__(self):
        if isinstance(self.width, bool) or not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"Bits width must be a positive integer, not {self.width!r}")
        if not isinstance(self.signed, bool):
            raise TypeError(f"Bits signed must be a bool, not {self.signed!r}")

    def pack(self, value: Any) -> int:
        """``value`` as the field's bits; a value the field cannot hold (outside the signed or
        unsigned range of its width, or not an integer) is an error, never truncated."""
        if isinstance(value, bool):
            value = int(value)
        try:
            v = operator.index(value)
        except TypeError:
            raise TypeError(f"a {self.width}-bit field takes an integer, not {value!r}") from None
        lo, hi = (-(1 << (self.width - 1)), (1 << (self.width - 1)) - 1) if self.signed else \
            (0, (1 << self.width) - 1)
        if not lo <= v <= hi:
            kind = "signed" if self.signed else "unsigned"
            raise ValueError(f"{v} does not fit a {self.width}-bit {kind} field "
                             f"([{lo}, {hi}])")
        return v & ((1 << self.width) - 1)

    def unpack(self, raw: int) -> int:
        """The field's value from its bits (negative for a signed field's top bit)."""
        raw &= (1 << self.width) - 1
        if self.signed and raw >> (self.width - 1):
            return raw - (1 << self.width)
        return raw


@dataclass(frozen=True)
class Array:
    """``length`` elements of one field, element 0 in the least significant bits."""

    element: "Field"
    length: int

    def __post_init__(self):
        if not isinstance(self.element, (Bits, Array, Struct)):
            raise TypeError(f"Array element must be a field, not {self.element!r}")
        if isinstance(self.length, bool) or not isinstance(self.length, int) or self.length < 1:
            raise ValueError(f"Array length must be a positive integer, not {self.length!r}")

    @property
    def width(self) -> int:
        return self.element.width * self.length

    def pack(self, value: Any) -> int:
        if not isinstance(value, Sequence) or isinstance(value, str) or \
                len(value) != self.length:
            raise ValueError(f"an array field of {self.length} elements takes a sequence of "
                             f"{self.length}, not {value!r}")
        word, step = 0, self.element.width
        for i, v in enumerate(value):
            word |= self.element.pack(v) << (i * step)
        return word

    def unpack(self, raw: int) -> tuple:
        step, mask = self.element.width, (1 << self.element.width) - 1
        return tuple(self.element.unpack((raw >> (i * step)) & mask) for i in range(self.length))


@dataclass(frozen=True, init=False)
class Struct:
    """Named fields, the first in the least significant bits.

    ``fields`` may be given as a mapping; it is kept as a tuple of ``(name, field)`` pairs so the
    description is hashable. :meth:`pack` reads each field from a mapping's key or an object's
    attribute of the same name; fields the object has but the struct does not are ignored (a
    weight operand without a zero point packs into a port without one).
    """

    fields: tuple[tuple[str, "Field"], ...]

    def __init__(self, fields: Mapping[str, "Field"] | Iterable[tuple[str, "Field"]]):
        items = tuple(fields.items()) if isinstance(fields, Mapping) else tuple(fields)
        names = [n for n, _ in items]
        if not items or len(set(names)) != len(names) or \
                not all(isinstance(n, str) and n.isidentifier() for n in names):
            raise ValueError(f"Struct fields must be distinct identifiers, not {names!r}")
        for name, f in items:
            if not isinstance(f, (Bits, Array, Struct)):
                raise TypeError(f"Struct field {name!r} must be a field, not {f!r}")
        object.__setattr__(self, "fields", items)

    @property
    def width(self) -> int:
        return sum(f.width for _, f in self.fields)

    def __getitem__(self, name: str) -> "Field":
        for n, f in self.fields:
            if n == name:
                return f
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(n == name for n, _ in self.fields)

    def pack(self, value: Any) -> int:
        word, offset = 0, 0
        for name, f in self.fields:
            try:
                v = value[name] if isinstance(value, Mapping) else getattr(value, name)
            except (KeyError, AttributeError):
                raise ValueError(f"struct field {name!r} is missing from {value!r}") from None
            word |= f.pack(v) << offset
            offset += f.width
        return word

    def unpack(self, raw: int) -> dict[str, Any]:
        out, offset = {}, 0
        for name, f in self.fields:
            out[name] = f.unpack((raw >> offset) & ((1 << f.width) - 1))
            offset += f.width
        return out


#: Any port field (usable with isinstance).
Field = Bits | Array | Struct


@dataclass(frozen=True)
class PEPorts:
    """The operand ports of the PE contract (:mod:`mpgemm.hw.contract`).

    ``act`` is ``i_a``/``o_a``, ``weight`` is ``i_w``/``o_w``, ``psum`` is ``i_psum``/``o_psum``;
    the control port is always :data:`PE_CONTROL`.
    """

    act: Field
    weight: Field
    psum: Field


#: The PE contract's per-beat control bits, ``valid`` in bit 0.
PE_CONTROL = Struct((
    ("valid", Bits(1)),
    ("load_w", Bits(1)),
    ("first", Bits(1)),
    ("last", Bits(1)),
    ("group_end", Bits(1)),
))
