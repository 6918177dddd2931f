"""LUT tensor core (LUT Tensor Core, ISCA 2025; T-MAC's table lookup).

The configs (:mod:`.config`) are pure Python; the Amaranth components are in :mod:`.rtl`.
"""

from .config import LUT_ACT_FORMATS, TABLE_FORMATS, LutConfig

__all__ = ['LUT_ACT_FORMATS', 'TABLE_FORMATS', 'LutConfig']
