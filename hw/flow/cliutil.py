"""What every command line of the flows shares: a user's mistake is one line on stderr and exit
status 2, never a traceback."""

import argparse
import sys
from collections.abc import Callable

__all__ = ["OneLineParser", "one_line", "print_user_error", "report_user_errors", "USER_ERRORS",
           "EXIT_USAGE"]

#: Exit status of a command given bad input (argparse's own).
EXIT_USAGE = 2
#: What a bad argument or input file raises (InputFileError and OutputFolderError are
#: ValueErrors); anything else is a bug in mpgemm and keeps its traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError)


def one_line(message: object) -> str:
    """``message`` on one line (an exception's text can span several)."""
    return " ".join(str(message).split("\n")).strip()


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (``prog: error: ...``) and exit status 2;
    ``--help`` still prints the usage."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)}\n")


def print_user_error(prog: str, error: BaseException) -> int:
    """Print ``error`` as ``prog: error: ...`` on one line of stderr; returns exit status 2."""
    print(f"{prog}: error: {one_line(error)}", file=sys.stderr)
    return EXIT_USAGE


def report_user_errors(prog: str, run: Callable[[], int]) -> int:
    """``run()``'s exit status; a user error it raises is printed as one line, status 2."""
    try:
        return run()
    except USER_ERRORS as e:
        return print_user_error(prog, e)
