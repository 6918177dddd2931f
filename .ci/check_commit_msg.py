#!/usr/bin/env python3
"""Reject a commit whose subject line is longer than 72 characters (a ``commit-msg`` hook).

Usage: ``check_commit_msg.py MESSAGE_FILE`` (git, or pre-commit's ``commit-msg`` stage, passes the
file holding the message being committed). The subject is the first line that is neither empty
nor a ``#`` comment, as git keeps it with its default cleanup; everything below a ``git commit
--verbose`` scissors line is ignored. Exits 1 with a message naming the length, else 0.
Standard library only, so the hook runs with any Python 3.
"""

import sys
from pathlib import Path

MAX_SUBJECT = 72
SCISSORS = "# ------------------------ >8 ------------------------"


def subject(message: str) -> str:
    """The subject line of a commit message as git records it ("" if there is none)."""
    for line in message.splitlines():
        if line.startswith(SCISSORS):
            break
        if line.startswith("#") or not line.strip():
            continue
        return line.rstrip()
    return ""


def check(message: str, limit: int = MAX_SUBJECT) -> str | None:
    """An error message if the subject is longer than ``limit`` characters, else None."""
    line = subject(message)
    if len(line) > limit:
        return (f"commit subject is {len(line)} characters, more than {limit}: shorten it and "
                f"put the details in the body\n  {line}")
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {Path(argv[0]).name} COMMIT_MESSAGE_FILE", file=sys.stderr)
        return 2
    error = check(Path(argv[1]).read_text(encoding="utf-8", errors="replace"))
    if error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
