"""User-facing errors: printed as one actionable line, exit code 2, never a traceback."""


class UserError(Exception):
    """A mistake the user can fix (bad flag, missing file, unknown name)."""
