"""Errors a user can cause and fix.

``UserError`` carries a one-line message saying what was wrong and how to fix it; the CLI prints it
and exits with code 2 instead of a traceback. Library code raises ``ValueError`` for bad arguments
(configs, tensor shapes) and ``UserError`` for bad files, paths and command-line input.
"""


class UserError(Exception):
    """A mistake in user input (a path, a key, a checkpoint) with a message that says how to fix it."""
