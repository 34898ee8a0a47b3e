"""Expected failures: bad input a person can fix (exit 2), and the validators that raise it.

A run that completes with a negative answer (a parity mismatch) exits 1 through the CLI;
anything else is a bug and keeps its traceback.
"""


class XlbridgeInputError(ValueError):
    """Bad input: a file, an option or a cell a person can fix. Exit status 2.

    The message is one line naming the file (or option), the place and the problem.
    """

    exit_code = 2


def check_int(value, name, *, min_val=None, max_val=None):
    """Return `value` as an int, or raise one clear error naming `name` and the bound."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise XlbridgeInputError(f"{name} must be an integer; got {value!r}")
    if min_val is not None and value < min_val:
        raise XlbridgeInputError(f"{name} == {value}, must be >= {min_val}")
    if max_val is not None and value > max_val:
        raise XlbridgeInputError(f"{name} == {value}, must be <= {max_val}")
    return value


def check_float(value, name, *, min_val=None, max_val=None, min_inclusive=True, max_inclusive=True):
    """Return `value` as a float inside the given interval, or raise one clear error."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise XlbridgeInputError(f"{name} must be a number; got {value!r}") from None
    if x != x:
        raise XlbridgeInputError(f"{name} must be a number; got NaN")
    if min_val is not None and (x < min_val or (x == min_val and not min_inclusive)):
        op = ">=" if min_inclusive else ">"
        raise XlbridgeInputError(f"{name} == {x:g}, must be {op} {min_val:g}")
    if max_val is not None and (x > max_val or (x == max_val and not max_inclusive)):
        op = "<=" if max_inclusive else "<"
        raise XlbridgeInputError(f"{name} == {x:g}, must be {op} {max_val:g}")
    return x
