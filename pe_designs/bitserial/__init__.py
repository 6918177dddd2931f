"""Bit-serial PE family (BitMoD, HPCA 2025; Stripes-style bit-plane mode for comparison).

The configs (:mod:`.config`) are pure Python; the Amaranth components are in :mod:`.rtl`.
"""

from .config import ACT_FORMATS, BitSerialConfig

__all__ = ['ACT_FORMATS', 'BitSerialConfig']
