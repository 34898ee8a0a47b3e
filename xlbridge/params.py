"""Parameters a person hands over, checked by one validator with one wording.

Rules are data, declared next to what they govern (a config's `RULES`, the optimizers'
`HPARAM_RULES` below), as scikit-learn declares its parameter constraints. One function turns
a broken rule into one sentence:

    the 'lr' parameter of fit must be a number > 0; got -1
    n_factors must be an integer in [1, 50]; got 0
    XLB_PREDICT's U x M x K (2000 x 2000 x 5) must be at most 10,000,000 products; got 20000000

`check` returns the value converted to the rule's type, so validation and assignment are one
line. The CLI, the workbook builders, the UDFs and training all validate through here;
models/ never does (it takes its inputs as valid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from xlbridge.errors import XlbridgeInputError

SHOWN_CHARS = 40  # a bad value is quoted at most this long: a message stays one short line


@dataclass(frozen=True)
class Interval:
    """A number (`kind` int or float) between `low` and `high` (None: unbounded); `closed` says
    which ends belong to it. Floats must be finite: no cell holds inf, no run survives NaN."""

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"          # "both", "left", "right" or "neither"

    def __str__(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        lo_in, hi_in = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return f"{what} in {'[' if lo_in else '('}{self.low:g}, {self.high:g}{']' if hi_in else ')'}"
        if self.low is not None:
            return f"{what} {'>=' if lo_in else '>'} {self.low:g}"
        if self.high is not None:
            return f"{what} {'<=' if hi_in else '<'} {self.high:g}"
        return what

    def convert(self, value):
        """The value as this rule's type, or None when it cannot be one."""
        if isinstance(value, (bool, np.bool_, str, bytes)) or value is None:
            return None  # numbers only: text in a number's place is an error, not a conversion
        try:
            x = float(value) if not isinstance(value, int) else value
        except (TypeError, ValueError):
            return None
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if self.kind is int:
            if isinstance(x, float):
                if not x.is_integer():  # Excel sends 5 as 5.0: accept it, refuse 5.5
                    return None
                x = int(x)
            return x
        return float(x)

    def holds(self, x) -> bool:
        lo_in, hi_in = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and (x < self.low or (x == self.low and not lo_in)):
            return False
        return not (self.high is not None and (x > self.high or (x == self.high and not hi_in)))


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of values (compared as given, or case-insensitively for text)."""

    choices: tuple

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices) if len(self.choices) > 1 else repr(self.choices[0])

    def convert(self, value):
        for c in self.choices:
            if value == c or (isinstance(value, str) and isinstance(c, str) and value.lower() == c.lower()):
                return c
        return None

    def holds(self, x) -> bool:
        return True


@dataclass(frozen=True)
class AnyOf:
    """A value that satisfies any of `rules`; the first that holds gives its type."""

    rules: tuple

    def __str__(self) -> str:
        return " or ".join(map(str, self.rules))

    def convert(self, value):
        for rule in self.rules:
            x = rule.convert(value)
            if x is not None and rule.holds(x):
                return x
        return None

    def holds(self, x) -> bool:
        return True


@dataclass(frozen=True)
class AtMost:
    """A count of `unit` no larger than `limit`: a cap that keeps a call's memory and time bounded."""

    limit: int
    unit: str

    def __str__(self) -> str:
        return f"at most {self.limit:,} {self.unit}"

    def convert(self, value):
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def holds(self, x) -> bool:
        return 0 <= x <= self.limit


def shown(value) -> str:
    """A value as a message quotes it: repr, cut to SHOWN_CHARS characters."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def check(value, rule, name: str, owner: str | None = None):
    """`value` converted to `rule`'s type when it satisfies the rule, else one clear error."""
    x = rule.convert(value)
    if x is None or not rule.holds(x):
        where = f"the '{name}' parameter of {owner}" if owner else name
        raise XlbridgeInputError(f"{where} must be {rule}; got {shown(value)}")
    return x


def check_all(values: Mapping[str, Any], rules: Mapping[str, Any], owner: str | None = None) -> dict:
    """Every value that has a rule, checked; unknown names are an error (a typo must not fall
    back to a default silently)."""
    unknown = sorted(set(values) - set(rules))
    if unknown:
        raise XlbridgeInputError(f"{owner + ': ' if owner else ''}unknown parameter {unknown[0]!r} "
                                 f"(known: {', '.join(rules)})")
    return {k: check(v, rules[k], k, owner) for k, v in values.items()}


def validate(config, owner: str | None = None):
    """Check a frozen dataclass config field by field against its class's RULES; returns it."""
    rules = type(config).RULES
    for name, rule in rules.items():
        check(getattr(config, name), rule, name, owner)
    return config


# ---------------------------------------------------------------------------------------------
# Shared rules

POSITIVE = Interval(float, 0, None, "neither")
NON_NEGATIVE = Interval(float, 0, None)
FRACTION_OPEN = Interval(float, 0, 1, "neither")      # (0, 1)
BETA = Interval(float, 0, 1, "left")                   # [0, 1): a decay or a momentum
ANY_NUMBER = Interval(float)
SEED = Interval(int, 0, 2**63 - 1)

# The gradient-descent lesson's hyperparameters (models/linear.py OPTIMIZERS), by name.
HPARAM_RULES: dict[str, Interval] = {
    "lr": NON_NEGATIVE,
    "max_lr": POSITIVE,
    "momentum": BETA,
    "dampening": Interval(float, 0, 1),
    "lr_decay": NON_NEGATIVE,
    "initial_accumulator_value": NON_NEGATIVE,
    "eps": POSITIVE,
    "alpha": BETA,
    "beta1": BETA,
    "beta2": BETA,
    "weight_decay": NON_NEGATIVE,
    "pct_start": FRACTION_OPEN,
    "div_factor": POSITIVE,
    "final_div_factor": POSITIVE,
    "base_momentum": BETA,
    "max_momentum": BETA,
}


def check_hparams(optimizer: str, hparams: Mapping[str, float] | None = None,
                  total_steps: int | None = None) -> dict[str, float]:
    """A line-fit optimizer's defaults (models/optimizers.py OPTIMIZERS) updated with `hparams`,
    each checked against its rule. With `total_steps`, also checks that OneCycleLR's phases
    are not empty (it divides by the warm-up length and by what is left after it)."""
    from xlbridge.models.optimizers import OPTIMIZERS
    from xlbridge.models.schedule import onecycle_warmup_end

    optimizer = check(optimizer, OneOf(tuple(OPTIMIZERS)), "optimizer")
    defaults = OPTIMIZERS[optimizer]
    given = check_all(dict(hparams or {}), {k: HPARAM_RULES[k] for k in defaults}, optimizer)
    out = {k: check(v, HPARAM_RULES[k], k, optimizer) for k, v in {**defaults, **given}.items()}
    if optimizer == "adam_onecycle" and total_steps is not None:
        end = onecycle_warmup_end(out["pct_start"], total_steps)
        if not 0 < end < total_steps - 1:
            raise XlbridgeInputError(
                f"adam_onecycle pct_start == {out['pct_start']:g} with {total_steps} steps puts the end "
                f"of warm-up at step {end:g}; it must fall strictly between 0 and {total_steps - 1}")
    return out
