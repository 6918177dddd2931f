"""MixPE: shift-and-add mixed-precision PE with dequantization after the group (arXiv 2411.16158).

The configs (:mod:`.config`) are pure Python; the Amaranth components are in :mod:`.rtl`.
"""

from .config import ACT_FORMATS, SCALE_FORMATS, MixPEConfig

__all__ = ['ACT_FORMATS', 'SCALE_FORMATS', 'MixPEConfig']
