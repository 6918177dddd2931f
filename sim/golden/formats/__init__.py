"""Number formats shared by the hardware generators, golden models and cost model.

This package is the single definition of every number format the toolkit knows about.
All conversions are exact:

* ``decode`` maps unsigned bit patterns to float64 values.  float64 has a 53-bit
  significand and an exponent range far wider than any format defined here, so every
  representable value (subnormals included) is held exactly.
* ``encode`` maps real values to unsigned bit patterns with round-to-nearest,
  ties-to-even (RNE), computed directly from the float64 input.  There is no
  intermediate float32 step, so there is no double rounding.

Formats
-------
``int2`` .. ``int16``
    Two's complement signed integers.
``uint1`` .. ``uint16``
    Unsigned integers.
``ternary``
    Values {-1, 0, +1} stored in 2 bits as a two's complement int2 with the code
    ``0b10`` reserved (``0b00`` -> 0, ``0b01`` -> +1, ``0b11`` -> -1).
``fp4_e2m1``
    OCP MX FP4: bias 1, no infinity, no NaN, max 6.0.
``fp8_e4m3``
    OCP FP8 E4M3 ("E4M3FN"): bias 7, no infinity, only ``S.1111.111`` is NaN, max 448.
``fp8_e5m2``
    OCP FP8 E5M2: bias 15, IEEE-like infinities and NaNs, max 57344.
``fp16``, ``bf16``, ``fp32``
    IEEE binary16, bfloat16 and IEEE binary32.

Overflow rule of ``encode``: formats with an infinity (``fp8_e5m2``, ``fp16``, ``bf16``,
``fp32``) overflow to +-inf by default, as IEEE 754 does, or to +-max finite when
``saturate=True``.  Formats without an infinity always saturate to +-max finite and
reject ``saturate=False``.

Where each concept lives: the format classes in :mod:`.integer` (:class:`IntFormat`,
:class:`TernaryFormat`, :class:`BinaryFormat`) and :mod:`.floating` (:class:`FloatFormat`),
on the shared base in :mod:`._base`; the table of canonical formats (:data:`FORMATS`,
:func:`get_format`, :func:`get_float_format`, :data:`SCALE_FORMAT_NAMES`) in
:mod:`.registry`; BitMoD's special-value formats (:data:`SPECIAL_FORMATS`,
:func:`get_weight_format`) in :mod:`.special`; two's complement helpers (:func:`int_range`,
:func:`signed_bits_for_range`, :func:`to_signed`, :func:`to_unsigned`) in :mod:`.twos`; bit
packing (:func:`pack_fields`, :func:`unpack_fields`) in :mod:`.packing`; group-wise weight
quantization (:func:`quantize_groups`, :class:`QuantizedWeights`) in :mod:`.quantize`; and the
input validation helpers they share in :mod:`._checks`.  Every public name is re-exported here.
"""

from .floating import FloatFormat, NanStyle
from .integer import BinaryFormat, IntFormat, TernaryFormat
from .packing import pack_fields, unpack_fields
from .quantize import QuantizedWeights, quantize_groups
from .registry import FORMATS, SCALE_FORMAT_NAMES, Format, get_float_format, get_format
from .special import SPECIAL_FORMATS, SpecialValueFormat, get_weight_format
from .twos import int_range, signed_bits_for_range, to_signed, to_unsigned

__all__ = [
    "BinaryFormat",
    "FORMATS",
    "FloatFormat",
    "Format",
    "IntFormat",
    "NanStyle",
    "QuantizedWeights",
    "SCALE_FORMAT_NAMES",
    "SPECIAL_FORMATS",
    "SpecialValueFormat",
    "TernaryFormat",
    "get_float_format",
    "get_format",
    "get_weight_format",
    "int_range",
    "signed_bits_for_range",
    "pack_fields",
    "quantize_groups",
    "to_signed",
    "to_unsigned",
    "unpack_fields",
]
