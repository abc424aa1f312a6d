"""The errors tinyml reports, and every exit code the `tinyml` command returns, as named constants.

`TinymlError` is a failure caused by the user's input or environment: one line on stderr and its exit code.
`TinymlBug` is a broken promise inside tinyml itself (a plan that fails its own check, a generated program that
crashes): the command says so, asks for a report, and exits with `INTERNAL_ERROR`, never with `BAD_INPUT`.
"""
from __future__ import annotations

OK = 0
BAD_INPUT = 2        # a file, model, option or board profile the user gave is wrong
OVER_BUDGET = 3      # the model does not fit the board's budgets
DEVICE_FAILURE = 4   # a device, emulator or host run failed or did not answer
MISMATCH = 5         # outputs differ from the host reference
DRIFT = 6            # `tinyml monitor --fail-on-drift`: the field reports drifted from the reference
LEAKAGE = 7          # `tinyml data check`: a sample, a near copy of it, or a group is in two splits
INTERNAL_ERROR = 70  # a bug in tinyml (EX_SOFTWARE in BSD's sysexits.h)
INTERRUPTED = 130    # Ctrl-C (128 + SIGINT), as shells report it


class TinymlError(Exception):
    """A failure caused by the user's input or environment, reported as one line on stderr."""

    def __init__(self, message: str, exit_code: int = BAD_INPUT) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class TinymlBug(Exception):
    """tinyml broke one of its own invariants; `model_hash` (when known) identifies the model that showed it."""

    def __init__(self, message: str, model_hash: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.model_hash = model_hash
