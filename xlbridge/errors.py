"""Expected failures: bad input a person can fix (exit 2). The validators that raise it live in
xlbridge/params.py.

A run that completes with a negative answer (a parity mismatch) exits 1 through the CLI;
anything else is a bug and keeps its traceback.
"""


class XlbridgeInputError(ValueError):
    """Bad input: a file, an option or a cell a person can fix. Exit status 2.

    The message is one line naming the file (or option), the place and the problem.
    """

    exit_code = 2


class XlbridgeWarning(UserWarning):
    """Input used with a change the user should know of (a title cut to a cell's limit). The CLI
    prints each as one line; the message names the file, the place and what was changed."""
