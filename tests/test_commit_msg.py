"""The commit-msg hook (.ci/check_commit_msg.py): subjects longer than 72 characters are
rejected, as git would record the message (comments and a --verbose diff do not count)."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "check_commit_msg.py"


def _hook(tmp_path: Path, message: str) -> subprocess.CompletedProcess[str]:
    msg = tmp_path / "COMMIT_EDITMSG"
    msg.write_text(message, encoding="utf-8")
    return subprocess.run([sys.executable, str(SCRIPT), str(msg)], capture_output=True,
                          text=True, check=False)


@pytest.mark.parametrize("message", [
    "x" * 72,
    "types: mypy clean on the mpgemm package, run by make lint\n\nWhy, at length. " + "y" * 200,
    # git drops comment lines and leading blank lines before it takes the subject.
    "# " + "c" * 100 + "\n\n" + "s" * 72 + "\n",
    # Non-ASCII characters count once each.
    "é" * 72,
    # An empty message passes here (git itself aborts the commit).
    "# only comments\n",
])
def test_accepts_subjects_of_at_most_72_characters(tmp_path, message):
    result = _hook(tmp_path, message)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("message, length", [
    ("x" * 73, 73),
    ("\n\n" + "z" * 80 + "\n\nbody\n", 80),
    ("# comment\n" + "w" * 100 + "\n", 100),
])
def test_rejects_a_longer_subject_naming_its_length(tmp_path, message, length):
    result = _hook(tmp_path, message)
    assert result.returncode == 1
    assert f"commit subject is {length} characters, more than 72" in result.stderr


def test_ignores_the_diff_below_the_scissors_line(tmp_path):
    message = ("short subject\n\n# ------------------------ >8 ------------------------\n"
               + "+" + "d" * 120 + "\n")
    assert _hook(tmp_path, message).returncode == 0
    only_diff = "# ------------------------ >8 ------------------------\n" + "d" * 120 + "\n"
    assert _hook(tmp_path, only_diff).returncode == 0


def test_usage_error_without_a_message_file():
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 2 and "usage:" in result.stderr
