"""The README's tour works exactly as written: its Python blocks run in order, in one namespace."""

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

pytestmark = [pytest.mark.sim, pytest.mark.synth]  # the tour generates and simulates

ROOT = Path(__file__).resolve().parent.parent


def test_readme_tour_runs(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)  # the tour writes build/my_rtl relative to the working directory
    out = io.StringIO()
    namespace: dict = {}
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, "README.md", "exec"), namespace)
    printed = out.getvalue()
    assert "1 0.25 22" in printed
    assert "need acc_bits >= 28" in printed
    assert printed.count("[(1, -18)]") == 2
    assert "PASS my_mac" in printed
    assert "{'int8': 4, 'int6': 3, 'bitmod_fp4': 2, 'bitmod_fp3': 2}" in printed
    assert "8 {'uint4': 4, 'binary': 1}" in printed and "256 512" in printed
    assert "0.25 2 True" in printed and "3 fp16" in printed
    assert "186972 100634" in printed
    assert "89177 60938" in printed
    assert "1 16704 9501" in printed and "64 43296 34329" in printed
    assert os.path.exists(tmp_path / "build" / "my_rtl" / "my_mac.v")
