"""Small arithmetic building blocks shared by the PE generators."""

__all__ = ["adder_tree"]


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
