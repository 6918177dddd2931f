"""Small arithmetic building blocks shared by the PE generators."""

from amaranth import Mux, Signal, Value

__all__ = ["adder_tree", "shift_add", "select_valid"]


def adder_tree(values):
    """Sum ``values`` as a balanced binary tree of adders.

    Amaranth widens each sum by one bit, so the result is exact; a balanced tree keeps the
    critical path at ceil(log2(n)) adders instead of n - 1.
    """
    values = list(values)
    if not values:
        raise ValueError("adder_tree needs at least one value")
    while len(values) > 1:
        paired = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
        if len(values) % 2:
            paired.append(values[-1])
        values = paired
    return values[0]


def shift_add(x, code, *, top_negative: bool = False):
    """``x * code`` as shift-and-add: ``sum_j code[j] * (x << j)``.

    ``code`` is a bit vector; with ``top_negative`` its top bit weighs ``-2^(len - 1)`` (a two's
    complement code), so that term is subtracted. The terms are summed in a balanced tree
    (:func:`adder_tree`) and the result is exact. The partial products are written out instead
    of leaving a ``*`` to synthesis: for a low-bit weight that is a handful of gated shifts and
    adds (MixPE's point); for a wide code it is an array multiplier by another name.
    """
    code = Value.cast(code)
    n = len(code)
    terms = []
    for j in range(n):
        term = Mux(code[j], x << j, 0)
        terms.append(-term if top_negative and j == n - 1 else term)
    return adder_tree(terms)


def select_valid(m, items, valids, *, name: str):
    """``(item, index)``: the ``items`` entry whose ``valids`` bit is set, and its index
    (combinational; the last set one if several are, 0 and index 0 if none). For units that
    take at most one of several inputs per cycle (a column unit's served rows' hand-offs)."""
    item = Signal.like(items[0], name=name)
    index = Signal(range(len(items)), name="index")
    m.d.comb += [item.eq(0), index.eq(0)]
    for r in range(len(items)):
        with m.If(valids[r]):
            m.d.comb += [item.eq(items[r]), index.eq(r)]
    return item, index
