"""User-facing errors.

A `UserError` is bad input or a missing resource the user can fix. The CLI prints its message on one
line and exits with status 2; the Python API lets it propagate (it is a `ValueError`).
"""


class UserError(ValueError):
    """Bad input, a missing file, or a resource that cannot be reached; the message says which."""
