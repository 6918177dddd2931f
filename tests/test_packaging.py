"""The distribution installs as one import package, ``mpgemm``, with no bare top-level names."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("hw", "pe_designs", "costmodel", "sim")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_folder_is_listed_under_mpgemm():
    setuptools = _pyproject()["tool"]["setuptools"]
    on_disk = {
        "mpgemm." + ".".join(init.parent.relative_to(ROOT).parts)
        for folder in FOLDERS for init in (ROOT / folder).rglob("__init__.py")
    }
    assert set(setuptools["packages"]) == on_disk
    assert setuptools["package-dir"] == {f"mpgemm.{f}": f for f in FOLDERS}


def test_bare_top_level_names_are_not_importable(tmp_path):
    # Run outside the repository, so only what the distribution installed is on sys.path.
    code = (
        "import importlib.util as u\n"
        f"bare = [n for n in {FOLDERS!r} if u.find_spec(n) is not None]\n"
        f"ours = [n for n in {FOLDERS!r} if u.find_spec('mpgemm.' + n) is None]\n"
        "print(bare, ours)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True, env={"PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[] []"


def test_console_script_points_into_the_package():
    assert _pyproject()["project"]["scripts"] == {"mpgemm": "mpgemm.hw.flow.cli:main"}
