"""The Solver model a workbook stores: Excel keeps it as hidden defined names.

Excel's Solver saves each sheet's model as hidden, sheet-scoped names:

    solver_opt  objective cell            solver_typ  1 max, 2 min, 3 value of (solver_val)
    solver_adj  changing cells (ranges)   solver_neg  1: changing cells are non-negative
    solver_num  number of constraints     solver_lhsN / solver_relN / solver_rhsN
                (relN: 1 <=, 2 =, 3 >=, 4 int, 5 bin, 6 dif i.e. AllDifferent)
    solver_eng  1 GRG Nonlinear, 2 Simplex LP, 3 Evolutionary
    solver_itr  max iterations   solver_tim  max seconds   solver_pre  constraint precision
    solver_cvg  convergence      solver_ssz  population    solver_rsd  random seed

This module reads them into a `SolverModel`; a model whose names are broken (a `#REF!`
left by deleted cells) is kept with its `problem` so it can be listed and skipped.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from xlbridge.calc.parse import Const, Name, Op, Range, Ref, parse, resolve
from xlbridge.calc.reader import WorkbookData
from xlbridge.calc.values import FormulaError
from xlbridge.errors import XlbridgeInputError

GOALS = {1: "max", 2: "min", 3: "value"}
RELATIONS = {1: "<=", 2: "=", 3: ">=", 4: "int", 5: "bin", 6: "dif"}
ENGINES = {1: "GRG Nonlinear", 2: "Simplex LP", 3: "Evolutionary"}
UNLIMITED = 2_147_483_647          # what Excel stores for "no limit"

# Names we read. Anything else starting with solver_ gets a warning: never a silent skip.
KNOWN = {"opt", "adj", "typ", "val", "neg", "num", "eng", "itr", "tim", "pre", "cvg", "ssz",
         "rsd", "ver", "lin"}
# Names that only tune how Excel itself searches, with the value at which they change
# nothing we do (None: never matters here, e.g. derivatives, since our gradients are exact).
HARMLESS = {
    "drv": None,      # forward/central differences: we use exact gradients instead
    "est": None,      # tangent/quadratic estimates: internal to GRG
    "nwt": None,      # Newton/conjugate search: internal to GRG
    "sho": None,      # show iteration results: a dialog option
    "scl": None,      # automatic scaling: the quasi-Newton methods are scale-aware enough
    "rlx": 2,         # 1 would ignore integer constraints
    "msl": 2,         # 1 would ask for multistart
    "mip": None, "nod": None, "tol": None,   # integer search limits: HiGHS uses its own
    "rbv": None,      # "require bounds": the Evolutionary engine here always needs them
    "mni": "Evolutionary", "mrt": "Evolutionary",   # Excel's own evolutionary tuning: warned when
}                                                    # that engine runs (differential_evolution has its own)


@dataclass
class Constraint:
    lhs: Range
    rel: str                              # '<=', '=', '>=', 'int', 'bin', 'dif'
    rhs: object = None                    # float, a Range, a formula tree (read on `sheet`), or None
    text: str = ""                        # the right side as stored

    def __str__(self):
        rhs = "" if self.rel in ("int", "bin", "dif") else f" {self.text or self.rhs}"
        return f"{self.lhs} {self.rel}{rhs}"


@dataclass
class SolverModel:
    sheet: str
    objective: Range | None = None
    changing: list[Range] = field(default_factory=list)
    goal: str = "min"                     # 'min', 'max' or 'value'
    target: float | None = None           # for goal 'value'
    nonnegative: bool = True              # Excel's default: unconstrained cells >= 0
    constraints: list[Constraint] = field(default_factory=list)
    engine: str = "GRG Nonlinear"
    max_iter: int | None = None           # None: no limit
    max_time: float | None = None         # seconds; None: no limit
    precision: float = 1e-6               # how far a constraint may be missed
    convergence: float = 1e-4             # relative change of the objective over 5 iterations
    population: int | None = None
    seed: int | None = None
    problem: str | None = None            # why this model cannot be solved (broken names)

    @property
    def n_changing(self) -> int:
        return sum(r.shape[0] * r.shape[1] for r in self.changing)

    def describe(self) -> str:
        if self.problem:
            return f"{self.sheet}: BROKEN ({self.problem})"
        goal = f"make equal to {self.target:g}" if self.goal == "value" else f"{self.goal}imise"
        adj = ", ".join(str(r) for r in self.changing)
        cons = f"; {len(self.constraints)} constraint(s)" if self.constraints else ""
        neg = "; changing cells >= 0" if self.nonnegative else ""
        return f"{self.sheet}: {goal} {self.objective} by changing {adj} ({self.n_changing} cells){neg}{cons}; {self.engine}"


def _number(text: str, what: str) -> float:
    t = text.strip().lstrip("=").strip('"')
    try:
        return float(t)
    except ValueError:
        raise ValueError(f"{what} is {text!r}, not a number") from None


_NAMES: dict = {}                     # (sheet, lower name) -> reference text, for the model being read
_SHEETS: dict = {}                    # lower sheet title -> title


def _ranges(text: str, sheet: str, what: str) -> list[Range]:
    """'dotprod!$H$19:$V$23,dotprod!$B$25:$F$39' (or a defined name) -> Ranges."""
    if "#REF!" in text.upper():
        raise ValueError(f"{what} refers to #REF! (its cells were deleted): {text}")
    out = []
    for part in _split_top(text.lstrip("=")):
        try:
            node = parse(part, (1, 1))
            for _ in range(5):                    # a defined name, perhaps naming another name
                if not isinstance(node, Name):
                    break
                target = _NAMES.get((sheet, node.name.lower())) or _NAMES.get((None, node.name.lower()))
                if target is None:
                    raise ValueError(f"{what} names '{node.name}', which is not defined")
                node = parse(target, (1, 1))
        except FormulaError as e:
            raise ValueError(f"{what} is not a reference: {text} ({e})") from None
        if not isinstance(node, Ref) or not all(node.absolute):
            raise ValueError(f"{what} is not an absolute reference: {text}")
        rng = resolve(node, sheet, 1, 1)
        if _SHEETS and rng.sheet.lower() not in _SHEETS:
            raise ValueError(f"{what} refers to sheet '{rng.sheet}', which does not exist: {text}")
        if _SHEETS:
            rng = Range(_SHEETS[rng.sheet.lower()], rng.r1, rng.c1, rng.r2, rng.c2)
        out.append(rng)
    if not out:
        raise ValueError(f"{what} is empty")
    return out


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside quotes (sheet names may hold commas)."""
    parts, cur, quoted = [], "", False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def _model(sheet: str, names: dict[str, str]) -> SolverModel:
    m = SolverModel(sheet=sheet)
    try:
        if "opt" not in names:
            raise ValueError("no objective (solver_opt)")
        objective = _ranges(names["opt"], sheet, "solver_opt")
        if len(objective) != 1 or objective[0].shape != (1, 1):
            raise ValueError(f"solver_opt is {names['opt']}, not one cell")
        m.objective = objective[0]
        if "adj" not in names:
            raise ValueError("no changing cells (solver_adj)")
        m.changing = _ranges(names["adj"], sheet, "solver_adj")
        typ = int(_number(names.get("typ", "2"), "solver_typ"))
        if typ not in GOALS:
            raise ValueError(f"solver_typ is {typ}; Excel uses 1 (max), 2 (min), 3 (value of)")
        m.goal = GOALS[typ]
        if m.goal == "value":
            m.target = _number(names.get("val", "0"), "solver_val")
        m.nonnegative = int(_number(names.get("neg", "1"), "solver_neg")) == 1
        eng = int(_number(names.get("eng", "1"), "solver_eng"))
        if eng not in ENGINES:
            raise ValueError(f"solver_eng is {eng}; Excel uses 1 (GRG), 2 (Simplex LP), 3 (Evolutionary)")
        m.engine = ENGINES[eng]
        if names.get("lin", "2").strip() == "1" and "eng" not in names:   # Excel 2007: "assume linear model"
            m.engine = "Simplex LP"
        itr = int(_number(names.get("itr", str(UNLIMITED)), "solver_itr"))
        m.max_iter = None if itr >= UNLIMITED or itr <= 0 else itr
        tim = _number(names.get("tim", str(UNLIMITED)), "solver_tim")
        m.max_time = None if tim >= UNLIMITED or tim <= 0 else tim
        m.precision = _number(names.get("pre", "0.000001"), "solver_pre")
        m.convergence = _number(names.get("cvg", "0.0001"), "solver_cvg")
        if "ssz" in names:
            m.population = int(_number(names["ssz"], "solver_ssz"))
        if "rsd" in names and int(_number(names["rsd"], "solver_rsd")) != 0:
            m.seed = int(_number(names["rsd"], "solver_rsd"))
        n = int(_number(names.get("num", "0"), "solver_num"))
        for i in range(1, n + 1):
            m.constraints.append(_constraint(names, i, sheet))
    except ValueError as e:
        m.problem = str(e)
    return m


def _constraint(names, i, sheet) -> Constraint:
    for part in ("lhs", "rel", "rhs"):
        if f"{part}{i}" not in names:
            raise ValueError(f"constraint {i} has no solver_{part}{i}")
    (lhs,) = _ranges(names[f"lhs{i}"], sheet, f"solver_lhs{i}")[:1]
    rel = int(_number(names[f"rel{i}"], f"solver_rel{i}"))
    if rel not in RELATIONS:
        raise ValueError(f"solver_rel{i} is {rel}; Excel uses 1..6")
    rel = RELATIONS[rel]
    text = names[f"rhs{i}"].strip()
    if rel in ("int", "bin", "dif"):
        return Constraint(lhs, rel, text=text)
    if "#REF!" in text.upper():
        raise ValueError(f"solver_rhs{i} refers to #REF! (its cells were deleted): {text}")
    body = text.lstrip("=").strip()
    if len(body) > 1 and body[0] == body[-1] == '"':     # Excel sometimes stores a number quoted
        body = body[1:-1]
    try:
        node = parse(body, (1, 1))
    except FormulaError:
        raise ValueError(f"solver_rhs{i} is neither a number, a reference nor a formula: {text}") from None
    constant = _constant(node)
    if constant is not None:
        return Constraint(lhs, rel, constant, text=text)
    if isinstance(node, Ref | Name):
        try:
            (rng,) = _ranges(body, sheet, f"solver_rhs{i}")[:1]
            return Constraint(lhs, rel, rng, text=text)
        except ValueError:
            if isinstance(node, Ref):
                raise
    return Constraint(lhs, rel, node, text=text)       # a formula such as 2*B8: evaluated in the solve


def _constant(node):
    """A right side that is a number: 5, -5, 30%, -2.5%."""
    if isinstance(node, Const) and isinstance(node.value, float):
        return node.value
    if isinstance(node, Op) and node.op in ("neg", "pos", "%"):
        inner = _constant(node.args[0])
        if inner is not None:
            return {"neg": -inner, "pos": inner, "%": inner / 100}[node.op]
    return None


def read_models(wb: WorkbookData) -> list[SolverModel]:
    """Every Solver model in the workbook, in sheet order; broken ones carry `.problem`.

    Unknown or unusual solver_* options are reported with a RuntimeWarning."""
    _NAMES.clear()
    _SHEETS.clear()
    _SHEETS.update({s.title.lower(): s.title for s in wb.sheets})
    for n in wb.names:
        if not n.name.lower().startswith("solver_"):
            scope = wb.sheets[n.sheet].title if n.sheet is not None and 0 <= n.sheet < len(wb.sheets) else None
            _NAMES[(scope, n.name.lower())] = n.text
    scopes: dict = {}
    for n in wb.names:
        if not n.name.lower().startswith("solver_"):
            continue
        key = n.name[7:].lower()
        scopes.setdefault(n.sheet, {})[key] = n.text
    models = []
    for scope, names in scopes.items():
        if scope is None:
            # A workbook-scoped model (written by hand or by other tools): it belongs to
            # the sheet its objective is on.
            try:
                sheet = _ranges(names.get("opt", ""), wb.sheets[0].title, "solver_opt")[0].sheet
            except ValueError:
                sheet = wb.sheets[0].title
        else:
            if not 0 <= scope < len(wb.sheets):
                raise XlbridgeInputError(f"{wb.path}: Solver names scoped to sheet #{scope}, which does not exist "
                                         f"(the workbook has {len(wb.sheets)})")
            sheet = wb.sheets[scope].title
        m = _model(sheet, names)
        for key, text in sorted(names.items()):
            base = key.rstrip("0123456789")
            if base in KNOWN or base in ("lhs", "rel", "rhs"):
                continue
            if base in HARMLESS:
                want = HARMLESS[base]
                if want == "Evolutionary":
                    if m.engine == want:
                        warnings.warn(f"{wb.path}: sheet '{sheet}': Solver option solver_{key}={text} is not "
                                      "honoured (differential_evolution uses its own mutation and stopping rules)",
                                      RuntimeWarning, stacklevel=2)
                elif want is not None and text.strip() != str(want):
                    warnings.warn(f"{wb.path}: sheet '{sheet}': Solver option solver_{key}={text} "
                                  f"is not honoured here", RuntimeWarning, stacklevel=2)
                continue
            warnings.warn(f"{wb.path}: sheet '{sheet}': unknown Solver option solver_{key}={text} ignored",
                          RuntimeWarning, stacklevel=2)
        models.append(m)
    order = {s.title: i for i, s in enumerate(wb.sheets)}
    models.sort(key=lambda m: order.get(m.sheet, len(order)))
    return models
