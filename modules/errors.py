"""The one base class of the errors a user can fix: bad input, not a bug.

An error class the user causes (a misspelt parameter, an unknown dataset, a damaged job folder,
a checkpoint refused as unsafe...) inherits :class:`UserError` as well as the built-in class it
has always had, so code that catches ``ValueError`` or ``KeyError`` still catches it. The
``spectrain`` command line (:func:`modules.cli.main`) shows a user error as one line, without
a traceback (unless ``--debug``); any other exception is a bug and keeps its traceback.

This module imports nothing, so any module may import it.
"""

from __future__ import annotations


class UserError(Exception):
    """An error the user can fix; its message says what is wrong, in one line."""

    def __str__(self) -> str:
        # KeyError would show its message quoted, as a dict key: a user error reads as text.
        if len(self.args) == 1:
            return str(self.args[0])
        return super().__str__()


def one_line(error: BaseException) -> str:
    """An error's message on one line (a message of several lines joined with spaces)."""
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip())
