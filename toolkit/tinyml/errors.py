"""The one error type for user-facing failures: a one-line message and an exit code."""
from __future__ import annotations


class TinymlError(Exception):
    """A failure caused by the user's input or environment, reported as one line on stderr.

    Exit codes: 2 bad input (file, model, option), 3 over a board budget, 4 device or emulator failure,
    5 outputs differ from the host reference.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


BAD_INPUT = 2
OVER_BUDGET = 3
DEVICE_FAILURE = 4
MISMATCH = 5
