"""A copy of a project module with one line of its source replaced: the RTL tests' way to
build a deliberately broken design (issue 12's ``make mutate`` does this systematically)."""

import inspect
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def source_mutant(module: types.ModuleType, old: str, new: str) -> Iterator[types.ModuleType]:
    """``module`` re-executed with the one occurrence of ``old`` in its source replaced by
    ``new`` (relative imports resolve as in the original package)."""
    source = inspect.getsource(module)
    assert source.count(old) == 1, f"{old!r} is not once in {module.__name__}: update the test"
    name = module.__name__ + "_mutant"
    mutant = types.ModuleType(name)
    mutant.__package__ = module.__package__
    sys.modules[name] = mutant
    try:
        exec(compile(source.replace(old, new), module.__file__ or name, "exec"), mutant.__dict__)
        yield mutant
    finally:
        del sys.modules[name]
