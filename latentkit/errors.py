"""The one error type users see.

Anything that is the user's fault (a bad option, a truncated file, an unknown name) is raised as a
`LatentkitError` with a one-line message naming the file or field and what to do. The CLI prints it
without a traceback and exits with code 2.
"""


class LatentkitError(Exception):
    """A user-facing error: one readable line, no traceback."""
