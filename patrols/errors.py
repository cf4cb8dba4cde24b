"""The few named errors the package raises.

Every error a user can cause by their input is an ``InputError``: it names the
file, and where it can the row and field, so the command line can print one
clear line and stop before anything is written.
"""

from __future__ import annotations

from pathlib import Path


class PatrolsError(Exception):
    """Base class for errors the command line reports as one line."""


class InputError(PatrolsError, ValueError):
    """Bad input: a missing or malformed file, row or field.

    Parameters
    ----------
    source
        The file (or other input) at fault.
    message
        What is wrong, in the planner's words.
    row
        1-based line number in the file, counting the header as line 1.
    field
        The column or key at fault.
    """

    def __init__(
        self,
        source: str | Path,
        message: str,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.source = str(source)
        self.message = message
        self.row = row
        self.field = field
        super().__init__(str(self))

    def __reduce__(self) -> tuple:
        # Rebuilt from its own fields when it crosses a process (a pool's or a Dask worker's):
        # the default uses ``args``, which is the one-line message, not the signature.
        return (type(self), (self.source, self.message, self.row, self.field))

    def __str__(self) -> str:
        where = [self.source]
        if self.row is not None:
            where.append(f"line {self.row}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        return f"{': '.join(where)}: {self.message}"


class PlanningError(PatrolsError):
    """The inputs are valid but no plan can be made from them (e.g. no unit on duty)."""
