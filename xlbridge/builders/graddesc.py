"""The gradient-descent workbook: fit y = a*x + b by SGD in a spreadsheet, then speed it up.

One sheet per optimizer, each the spreadsheet twin of models/linear.py: a row per step (batch
size 1, data in order, several epochs unrolled down the sheet, no macros), each row reading
the row above. Every sheet computes what the torch.optim class computes (first-step rules,
bias correction, eps placement, AdamW's decoupled decay), so xlbridge/parity/graddesc.py can
prove it equal to torch in float64. The course's own "adam" (no bias correction, no eps) has
its own sheet, labelled as the variant it is.

Layout of an optimizer sheet (column letters are this module's business; everything else
reads defined names):

    row 1   column names              right of the table: hyperparameters (yellow, named
    row 2   the equation of each         `lr`, `beta1`, ...), derived values, the torch
    row 3   step 0: the start a, b       call, the loss per epoch and its chart
            (orange, `a_init`, `b_init`) and the optimizer's initial state
    row 4+  one step per row

Sheet-scoped names per optimizer sheet: `a`, `b`, `pred`, `loss`, `grad_a`, `grad_b`, the
state columns under torch's state names (`momentum_buffer_a`, `sum_a`, `square_avg_a`,
`exp_avg_a`, `exp_avg_sq_a`, and `_b`), `new_a`, `new_b`, `epoch_loss`, and every
hyperparameter. Workbook-scoped on the data sheet: `x`, `noise`, `y`, `true_a`, `true_b`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Mapping

from openpyxl import Workbook
from openpyxl.chart import Reference
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from xlbridge.builders.charts import line_chart
from xlbridge.builders.common import sheet_kind
from xlbridge.contracts.graddesc import GRADDESC
from xlbridge.errors import XlbridgeInputError
from xlbridge.models.line import make_data
from xlbridge.models.optimizers import OPTIMIZERS
from xlbridge.params import ANY_NUMBER, NON_NEGATIVE, POSITIVE, SEED, Interval, check, check_hparams, validate
from xlbridge.styles import header, intro_sheet, label, note, paint, print_on_one_page, widths
from xlbridge.xlsx import add_name, cell_ref, range_ref, save_atomic, set_text, set_workbook_kind

# sheet title -> optimizer key in models/optimizers.py OPTIMIZERS (the parity check walks this too)
SHEETS: dict[str, str] = {
    "basic SGD": "sgd",
    "momentum": "momentum",
    "adagrad": "adagrad",
    "rmsprop": "rmsprop",
    "adam": "adam",
    "adamw": "adamw",
    "adam onecycle": "adam_onecycle",
    "course adam": "adam_course",
}

# The torch call each sheet reproduces, shown on the sheet and in the intro.
TORCH_CALLS: dict[str, str] = {
    "sgd": "torch.optim.SGD([a, b], lr=lr)",
    "momentum": "torch.optim.SGD([a, b], lr=lr, momentum=momentum, dampening=dampening)",
    "adagrad": "torch.optim.Adagrad([a, b], lr=lr, lr_decay=lr_decay, "
               "initial_accumulator_value=initial_accumulator_value, eps=eps)",
    "rmsprop": "torch.optim.RMSprop([a, b], lr=lr, alpha=alpha, eps=eps)",
    "adam": "torch.optim.Adam([a, b], lr=lr, betas=(beta1, beta2), eps=eps)",
    "adamw": "torch.optim.AdamW([a, b], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay)",
    "adam_onecycle": "torch.optim.Adam([a, b], betas=(max_momentum, beta2), eps=eps) + "
                     "torch.optim.lr_scheduler.OneCycleLR(opt, max_lr, total_steps, pct_start, "
                     "div_factor=div_factor, final_div_factor=final_div_factor, base_momentum=base_momentum, "
                     "max_momentum=max_momentum), scheduler stepped after every optimizer step",
    "adam_course": "NOT torch: the course sheet's adam (no bias correction, no eps); "
                   "models.linear.CourseAdam([a, b], lr=lr, betas=(beta1, beta2))",
}


@dataclass(frozen=True)
class GraddescConfig:
    """What the workbook is built from. Validated once, on entry to `build_graddesc`."""

    n_points: int = 30       # the course sheet's 30 rows of data
    true_a: float = 2.0      # the course's slope ...
    true_b: float = 30.0     # ... and intercept
    noise: float = 5.0       # sd of the noise added to y; 0 gives the course's exact line
    x_max: int = 100         # x drawn from 1..x_max, as the course's RANDBETWEEN(1,100)
    seed: int = 42           # the same workbook on every build
    epochs: int = 10         # 300 steps: plain SGD visibly stuck on b, Adam near the line
    a_init: float = 1.0      # the course's starting slope ...
    b_init: float = 1.0      # ... and intercept
    fd_step: float = 0.01    # the course's finite-difference step on the basic SGD sheet
    # per-optimizer overrides of models/optimizers.py OPTIMIZERS, e.g. {"adam": {"lr": 0.1}}
    hparams: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    RULES: ClassVar[dict] = {
        "n_points": Interval(int, 2, 1000), "true_a": ANY_NUMBER, "true_b": ANY_NUMBER, "noise": NON_NEGATIVE,
        "x_max": Interval(int, 1, 10**9), "seed": SEED, "epochs": Interval(int, 1), "a_init": ANY_NUMBER,
        "b_init": ANY_NUMBER, "fd_step": POSITIVE,
    }


MAX_STEPS = 20_000  # a sheet row per step: the workbook stays small enough to open and recalculate


def check_config(config: GraddescConfig) -> dict[str, dict[str, float]]:
    """Validate every field; returns the full hyperparameters per optimizer."""
    if not isinstance(config, GraddescConfig):
        raise XlbridgeInputError(f"config must be a GraddescConfig; got {type(config).__name__}")
    validate(config)
    check(config.epochs, Interval(int, 1, max(1, MAX_STEPS // config.n_points)), "epochs")
    unknown = sorted(set(config.hparams) - set(OPTIMIZERS))
    if unknown:
        raise XlbridgeInputError(f"hparams: unknown optimizer {unknown[0]!r} (known: {', '.join(OPTIMIZERS)})")
    steps = config.n_points * config.epochs
    return {opt: check_hparams(opt, config.hparams.get(opt), total_steps=steps) for opt in OPTIMIZERS}


# ---------------------------------------------------------------------------------------------
# Columns. A formula template names other columns in brackets: [grad_a] is that column in this
# row, [new_a@prev] in the row above; bare words (lr, beta1) are the sheet's named cells.


@dataclass(frozen=True)
class Col:
    name: str           # defined name of the column's step cells (also the key in Trajectory)
    title: str          # row 1
    equation: str       # row 2: what the column computes, as a reader would write it
    formula: str        # template for a step row
    fmt: str = "0.000000"
    role: str | None = None   # styles role for the step cells
    start: str | None = None  # template for the step-0 row (the initial state), if any
    width: float = 12
    tip: str | None = None    # a short note on the header cell, for the formulas worth one


SCI = "0.000E+00"


def columns(optimizer: str) -> list[Col]:
    """The table of one optimizer sheet, left to right."""
    cols = [
        Col("step", "step", "t", "", fmt="0", width=6),
        Col("epoch", "epoch", "", "", fmt="0", width=6),
        Col("step_x", "x", "data!x", "", fmt="General", role="data", width=8),
        Col("step_y", "y", "data!y", "", fmt="General", role="data", width=9),
        # a, b = the parameters this step starts from (the previous step's result)
        Col("a", "a", "previous new a", "=[new_a@prev]"),
        Col("b", "b", "previous new b", "=[new_b@prev]"),
        # pred = a * x + b
        Col("pred", "pred", "a·x + b", "=[a]*[step_x]+[b]", fmt="0.0000", role="output"),
        # loss = (pred - y) ** 2
        Col("loss", "loss", "(pred − y)²", "=([pred]-[step_y])^2", fmt="0.0000", role="output"),
    ]
    if optimizer == "sgd":
        cols += [
            # the derivative estimated from the loss alone: a central difference, exact for a
            # quadratic up to rounding, so it should match the analytic column beside it
            Col("fd_grad_a", "est de/da", "(e(a+h) − e(a−h)) / 2h",
                "=((([a]+fd_step)*[step_x]+[b]-[step_y])^2-(([a]-fd_step)*[step_x]+[b]-[step_y])^2)/(2*fd_step)", fmt=SCI,
                tip="The derivative estimated from the loss alone (h = fd_step). A central difference "
                    "of this quadratic loss equals the derivative up to rounding: compare with de/da."),
            Col("fd_grad_b", "est de/db", "(e(b+h) − e(b−h)) / 2h",
                "=(([a]*[step_x]+([b]+fd_step)-[step_y])^2-([a]*[step_x]+([b]-fd_step)-[step_y])^2)/(2*fd_step)", fmt=SCI),
        ]
    cols += [
        # loss.backward(): a.grad = 2 * (pred - y) * x
        Col("grad_a", "de/da", "x · de/db", "=[grad_b]*[step_x]", fmt=SCI),
        # loss.backward(): b.grad = 2 * (pred - y)
        Col("grad_b", "de/db", "2·(pred − y)", "=2*([pred]-[step_y])", fmt=SCI),
    ]
    cols += _optimizer_columns(optimizer)
    return cols


def _optimizer_columns(optimizer: str) -> list[Col]:
    """The optimizer's own columns, ending with the updated parameters `new_a`, `new_b`."""
    if optimizer == "sgd":
        return [
            # p.add_(p.grad, alpha=-lr)
            Col("new_a", "new a", "a − lr·de/da", "=[a]-lr*[grad_a]", start="=a_init"),
            Col("new_b", "new b", "b − lr·de/db", "=[b]-lr*[grad_b]", start="=b_init"),
        ]
    if optimizer == "momentum":
        return [
            # buf = g on the first step (torch clones the gradient, no dampening), then
            # buf.mul_(momentum).add_(g, alpha=1 - dampening)
            Col("momentum_buffer_a", "buf a", "de/da on step 1, then momentum·buf + (1−dampening)·de/da",
                "=IF([step]=1,[grad_a],momentum*[momentum_buffer_a@prev]+(1-dampening)*[grad_a])", fmt=SCI,
                tip="torch.optim.SGD's first-step rule: the buffer starts as the first gradient itself "
                    "(no dampening); from step 2 on it is momentum·buf + (1−dampening)·g."),
            Col("momentum_buffer_b", "buf b", "de/db on step 1, then momentum·buf + (1−dampening)·de/db",
                "=IF([step]=1,[grad_b],momentum*[momentum_buffer_b@prev]+(1-dampening)*[grad_b])", fmt=SCI),
            # p.add_(buf, alpha=-lr)
            Col("new_a", "new a", "a − lr·buf a", "=[a]-lr*[momentum_buffer_a]", start="=a_init"),
            Col("new_b", "new b", "b − lr·buf b", "=[b]-lr*[momentum_buffer_b]", start="=b_init"),
        ]
    if optimizer == "adagrad":
        return [
            # clr = lr / (1 + (step - 1) * lr_decay)
            Col("clr", "lr at step", "lr / (1 + (t−1)·lr_decay)", "=lr/(1+([step]-1)*lr_decay)", fmt=SCI,
                tip="Adagrad's own decay of the learning rate, step by step; lr_decay = 0 keeps lr."),
            # state_sum.addcmul_(g, g, value=1), starting from initial_accumulator_value
            Col("sum_a", "sum a", "sum + (de/da)²", "=[sum_a@prev]+[grad_a]^2", fmt=SCI,
                start="=initial_accumulator_value",
                tip="torch's state 'sum': starts at initial_accumulator_value (row 3) and never forgets."),
            Col("sum_b", "sum b", "sum + (de/db)²", "=[sum_b@prev]+[grad_b]^2", fmt=SCI,
                start="=initial_accumulator_value"),
            # p.addcdiv_(g, state_sum.sqrt().add_(eps), value=-clr)
            Col("new_a", "new a", "a − clr·de/da / (√sum a + eps)",
                "=[a]-[clr]*([grad_a]/(SQRT([sum_a])+eps))", start="=a_init"),
            Col("new_b", "new b", "b − clr·de/db / (√sum b + eps)",
                "=[b]-[clr]*([grad_b]/(SQRT([sum_b])+eps))", start="=b_init"),
        ]
    if optimizer == "rmsprop":
        return [
            # square_avg.mul_(alpha).addcmul_(g, g, value=1 - alpha), starting from 0
            Col("square_avg_a", "sq avg a", "alpha·sq avg + (1−alpha)·(de/da)²",
                "=alpha*[square_avg_a@prev]+(1-alpha)*[grad_a]^2", fmt=SCI, start="=0",
                tip="A moving average of squared gradients (Adagrad's sum, with forgetting)."),
            Col("square_avg_b", "sq avg b", "alpha·sq avg + (1−alpha)·(de/db)²",
                "=alpha*[square_avg_b@prev]+(1-alpha)*[grad_b]^2", fmt=SCI, start="=0"),
            # p.addcdiv_(g, square_avg.sqrt().add_(eps), value=-lr)
            Col("new_a", "new a", "a − lr·de/da / (√sq avg a + eps)",
                "=[a]-lr*([grad_a]/(SQRT([square_avg_a])+eps))", start="=a_init"),
            Col("new_b", "new b", "b − lr·de/db / (√sq avg b + eps)",
                "=[b]-lr*([grad_b]/(SQRT([square_avg_b])+eps))", start="=b_init"),
        ]
    if optimizer == "adam_course":
        return _moments("beta1") + [
            # the course's update: no bias correction, no eps
            Col("new_a", "new a", "a − lr·m a / √v a", "=[a]-lr*[exp_avg_a]/SQRT([exp_avg_sq_a])", start="=a_init",
                tip="The course's update: no bias correction and no eps, so the first steps differ "
                    "from torch.optim.Adam (compare with the adam sheet)."),
            Col("new_b", "new b", "b − lr·m b / √v b", "=[b]-lr*[exp_avg_b]/SQRT([exp_avg_sq_b])", start="=b_init"),
        ]
    # Adam, AdamW and Adam under OneCycleLR share the update; they differ in lr, beta1 and decay.
    cols, lr, beta1, a, b = [], "lr", "beta1", "[a]", "[b]"
    if optimizer == "adam_onecycle":
        lr, beta1 = "[lr_t]", "[beta1_t]"
        s = "([step]-1)"  # the scheduler's step count when this optimizer step runs
        cols += [
            # pct = (step_num - start_step) / (end_step - start_step) within the current phase
            Col("pct_t", "phase %", "share of the current phase done",
                f"=IF({s}<=warmup_end,{s}/warmup_end,({s}-warmup_end)/(total_steps-1-warmup_end))", fmt="0.0000"),
            # _annealing_cos(start, end, pct) = end + (start - end) / 2 * (cos(pi * pct) + 1):
            # warm-up initial_lr -> max_lr, then max_lr -> min_lr
            Col("lr_t", "lr", "cos anneal: initial_lr→max_lr, then →min_lr",
                f"=IF({s}<=warmup_end,max_lr+(initial_lr-max_lr)/2*(COS(PI()*[pct_t])+1),"
                f"min_lr+(max_lr-min_lr)/2*(COS(PI()*[pct_t])+1))", fmt=SCI,
                tip="OneCycleLR in closed form: when step t runs, the scheduler has stepped t−1 times."),
            # beta1 cycles the other way: max_momentum -> base_momentum, then back
            Col("beta1_t", "beta1", "cos anneal: max_momentum→base_momentum, then back",
                f"=IF({s}<=warmup_end,base_momentum+(max_momentum-base_momentum)/2*(COS(PI()*[pct_t])+1),"
                f"max_momentum+(base_momentum-max_momentum)/2*(COS(PI()*[pct_t])+1))", fmt="0.0000"),
        ]
    if optimizer == "adamw":
        cols += [
            # decoupled weight decay, before the Adam step: p.mul_(1 - lr * weight_decay)
            Col("decayed_a", "decayed a", "a·(1 − lr·weight_decay)", "=[a]*(1-lr*weight_decay)",
                tip="AdamW's decoupled weight decay shrinks the parameter itself before the Adam step; "
                    "it never enters the gradient or the moving averages."),
            Col("decayed_b", "decayed b", "b·(1 − lr·weight_decay)", "=[b]*(1-lr*weight_decay)"),
        ]
        a, b = "[decayed_a]", "[decayed_b]"
    cols += _moments(beta1) + [
        # bias_correction1 = 1 - beta1 ** step;  bias_correction2 = 1 - beta2 ** step
        Col("bias_correction1", "bc1", "1 − beta1^t", f"=1-{beta1}^[step]", fmt="0.000000",
            tip="Bias correction: m and v start at 0, so early on they are too small; dividing by "
                "1 − beta^t undoes that. The course's sheet leaves it out."),
        Col("bias_correction2", "bc2", "1 − beta2^t", "=1-beta2^[step]", fmt="0.000000"),
        # p.addcdiv_(exp_avg, exp_avg_sq.sqrt() / sqrt(bc2) + eps, value=-lr / bc1)
        Col("new_a", "new a", "a − lr/bc1 · m a / (√v a / √bc2 + eps)",
            f"={a}-{lr}/[bias_correction1]*[exp_avg_a]/(SQRT([exp_avg_sq_a])/SQRT([bias_correction2])+eps)",
            start="=a_init", tip="eps goes where torch puts it: added after √v is divided by √bc2."),
        Col("new_b", "new b", "b − lr/bc1 · m b / (√v b / √bc2 + eps)",
            f"={b}-{lr}/[bias_correction1]*[exp_avg_b]/(SQRT([exp_avg_sq_b])/SQRT([bias_correction2])+eps)",
            start="=b_init"),
    ]
    return cols


def _moments(beta1: str) -> list[Col]:
    """Adam's two moving averages, both starting from 0 (torch's zeros_like state)."""
    b1 = beta1  # "beta1", or the scheduled column "[beta1_t]"
    return [
        # exp_avg.lerp_(g, 1 - beta1), i.e. beta1 * m + (1 - beta1) * g
        Col("exp_avg_a", "m a", "beta1·m + (1−beta1)·de/da",
            f"={b1}*[exp_avg_a@prev]+(1-{b1})*[grad_a]", fmt=SCI, start="=0"),
        Col("exp_avg_b", "m b", "beta1·m + (1−beta1)·de/db",
            f"={b1}*[exp_avg_b@prev]+(1-{b1})*[grad_b]", fmt=SCI, start="=0"),
        # exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        Col("exp_avg_sq_a", "v a", "beta2·v + (1−beta2)·(de/da)²",
            "=beta2*[exp_avg_sq_a@prev]+(1-beta2)*[grad_a]^2", fmt=SCI, start="=0"),
        Col("exp_avg_sq_b", "v b", "beta2·v + (1−beta2)·(de/db)²",
            "=beta2*[exp_avg_sq_b@prev]+(1-beta2)*[grad_b]^2", fmt=SCI, start="=0"),
    ]


_REF = re.compile(r"\[(\w+)(@prev)?\]")


def _fill(template: str, letters: dict[str, str], row: int) -> str:
    """Resolve [col] / [col@prev] in a template to A1 addresses for `row`."""
    return _REF.sub(lambda m: f"{letters[m.group(1)]}{row - 1 if m.group(2) else row}", template)


# ---------------------------------------------------------------------------------------------
# Sheets.

DATA_FIRST_ROW = 7  # first data point's row on the data sheet
HEAD, EQN, START = 1, 2, 3  # rows of an optimizer sheet: names, equations, step 0


def _data_sheet(wb, data) -> None:
    """x and y = true_a*x + true_b + noise: x and noise written as values (never RANDBETWEEN),
    y a formula, so editing the true a or b moves every point."""
    ws = wb.create_sheet("data")
    sheet_kind(wb, ws, "data")
    label(ws["A1"], "Data: y = true_a·x + true_b + noise (seeded values, not RANDBETWEEN)")
    for r, (key, text, value) in enumerate([("true_a", "true a", data.a), ("true_b", "true b", data.b)], start=2):
        label(ws.cell(r, 1), text)
        ws.cell(r, 2, value)
        paint(ws, ws.cell(r, 2).coordinate, "input")
        add_name(wb, key, cell_ref("data", r, 2))
    label(ws.cell(4, 1), "Change true a or b to move the line; the optimizer sheets follow.", bold=False)
    for c, text in enumerate(["i", "x", "noise", "y"], start=1):
        set_text(ws.cell(DATA_FIRST_ROW - 1, c), text)
    header(ws, f"A{DATA_FIRST_ROW - 1}:D{DATA_FIRST_ROW - 1}")
    n = len(data.x)
    for i in range(n):
        r = DATA_FIRST_ROW + i
        ws.cell(r, 1, i + 1)
        ws.cell(r, 2, float(data.x[i]))
        ws.cell(r, 3, float(data.noise[i]))
        # y = a * x + b + noise  (models.line.LineData.y)
        ws.cell(r, 4, f"=true_a*B{r}+true_b+C{r}")
    last = DATA_FIRST_ROW + n - 1
    paint(ws, f"B{DATA_FIRST_ROW}:D{last}", "data")
    for key, col in (("x", 2), ("noise", 3), ("y", 4)):
        add_name(wb, key, range_ref("data", DATA_FIRST_ROW, col, last, col))
    note(ws.cell(DATA_FIRST_ROW - 1, 4), "y = true_a*x + true_b + noise. The noise is drawn once "
         "(seeded) and written as values, so the workbook recalculates to the same numbers everywhere.")
    ws.freeze_panes = f"A{DATA_FIRST_ROW}"
    widths(ws, {"A": 10, "B": 8, "C": 9, "D": 10})


def _optimizer_sheet(wb, title: str, optimizer: str, hp: dict, config: GraddescConfig, n: int
                     ) -> tuple[Reference, Reference]:
    """One optimizer's sheet; returns its mean loss per epoch and the epoch numbers (for charts)."""
    ws = wb.create_sheet(title)
    sheet_kind(wb, ws, "optimizer")
    cols = columns(optimizer)
    letters = {c.name: get_column_letter(j) for j, c in enumerate(cols, start=1)}
    steps = n * config.epochs
    first, last = START + 1, START + steps

    # --- the panel right of the table: hyperparameters (named, yellow), derived values, start
    pc = len(cols) + 2  # leave one empty column
    pl, pv = get_column_letter(pc), get_column_letter(pc + 1)
    panel = _Panel(wb, ws, pc)
    panel.heading(f"{title}: {'the course variant, not torch' if optimizer == 'adam_course' else 'as torch.optim'}")
    panel.text(TORCH_CALLS[optimizer])
    panel.named("optimizer", optimizer, "data", caption="optimizer (models/optimizers.py)")
    panel.heading("hyperparameters (change these)")
    for key, value in hp.items():
        panel.named(key, value, "input")
    if optimizer == "sgd":
        panel.named("fd_step", config.fd_step, "input", caption="fd_step (h)")
    if optimizer == "adam_onecycle":
        panel.heading("derived by OneCycleLR")
        # group["initial_lr"] = max_lr / div_factor; group["min_lr"] = initial_lr / final_div_factor
        panel.named("initial_lr", "=max_lr/div_factor", "output", fmt=SCI)
        panel.named("min_lr", "=initial_lr/final_div_factor", "output", fmt=SCI)
        panel.named("total_steps", f"=ROWS({letters['step']}{first}:{letters['step']}{last})", "output", fmt="0")
        # phase 1 ends at float(pct_start * total_steps) - 1
        panel.named("warmup_end", "=pct_start*total_steps-1", "output", fmt="0.00")
    panel.heading("start (step 0)")
    panel.named("a_init", config.a_init, "param")
    panel.named("b_init", config.b_init, "param")

    # --- the table
    for j, c in enumerate(cols, start=1):
        set_text(ws.cell(HEAD, j), c.title)
        set_text(ws.cell(EQN, j), c.equation)
        ws.cell(EQN, j).font = Font(italic=True)
        ws.column_dimensions[get_column_letter(j)].width = c.width
    header(ws, f"A{HEAD}:{get_column_letter(len(cols))}{HEAD}")
    ws.cell(START, 1, 0)
    for j, c in enumerate(cols, start=1):
        if c.start is not None:   # step 0: where a, b and the optimizer's state start
            ws.cell(START, j, c.start).number_format = c.fmt
            add_name(wb, f"{c.name}_start", cell_ref(title, START, j), sheet=ws)
    paint(ws, f"{letters['new_a']}{START}:{letters['new_b']}{START}", "param")
    for t in range(1, steps + 1):
        r = START + t
        i = (t - 1) % n  # data in order, epoch after epoch
        for j, c in enumerate(cols, start=1):
            if c.name == "step":
                v = t
            elif c.name == "epoch":
                v = (t - 1) // n + 1
            elif c.name == "step_x":
                v = f"=data!$B${DATA_FIRST_ROW + i}"
            elif c.name == "step_y":
                v = f"=data!$D${DATA_FIRST_ROW + i}"
            else:
                v = _fill(c.formula, letters, r)
            cell = ws.cell(r, j, v)
            cell.number_format = c.fmt
    for c in cols:
        col = letters[c.name]
        if c.role:
            paint(ws, f"{col}{first}:{col}{last}", c.role, number_format=c.fmt)
        if c.name not in ("step", "epoch"):
            add_name(wb, c.name, range_ref(title, first, cols.index(c) + 1, last, cols.index(c) + 1), sheet=ws)
    for j, c in enumerate(cols, start=1):
        if c.tip:
            note(ws.cell(HEAD, j), c.tip)
    ws.freeze_panes = f"A{START}"

    # --- loss per epoch, and its chart
    panel.heading("mean loss per epoch")
    top = panel.row
    set_text(ws.cell(top, pc), "epoch")
    set_text(ws.cell(top, pc + 1), "mean loss")
    header(ws, f"{pl}{top}:{pv}{top}")
    lc = letters["loss"]
    for e in range(config.epochs):
        r = top + 1 + e
        ws.cell(r, pc, e + 1)
        # loss.reshape(epochs, n).mean(1)
        ws.cell(r, pc + 1, f"=AVERAGE({lc}{first + e * n}:{lc}{first + (e + 1) * n - 1})")
    paint(ws, f"{pv}{top + 1}:{pv}{top + config.epochs}", "output", number_format="0.000")
    add_name(wb, "epoch_loss", range_ref(title, top + 1, pc + 1, top + config.epochs, pc + 1), sheet=ws)
    epoch_loss = Reference(ws, min_col=pc + 1, min_row=top + 1, max_row=top + config.epochs)
    epochs = Reference(ws, min_col=pc, min_row=top + 1, max_row=top + config.epochs)
    ws.add_chart(line_chart(f"{title}: mean loss per epoch", "epoch", "mean squared error", {"mean loss": epoch_loss},
                            epochs), f"{get_column_letter(pc + 3)}3")
    widths(ws, {pl: 24, pv: 12})
    return epoch_loss, epochs


class _Panel:
    """Label/value rows in two columns right of the table, top to bottom."""

    def __init__(self, wb, ws, col: int):
        self.wb, self.ws, self.col, self.row = wb, ws, col, 1

    def heading(self, text: str) -> None:
        if self.row > 1:
            self.row += 1
        label(self.ws.cell(self.row, self.col), text)
        self.row += 1

    def text(self, text: str) -> None:
        label(self.ws.cell(self.row, self.col), text, bold=False)
        self.row += 1

    def named(self, name: str, value, role: str, fmt: str = "General", caption: str | None = None) -> None:
        set_text(self.ws.cell(self.row, self.col), caption or name)
        self.ws.cell(self.row, self.col + 1, value)
        paint(self.ws, self.ws.cell(self.row, self.col + 1).coordinate, role, number_format=fmt)
        add_name(self.wb, name, cell_ref(self.ws.title, self.row, self.col + 1), sheet=self.ws)
        self.row += 1


_INTRO = [
    ("What this is",
     "The lesson's line fit y = a·x + b, trained by stochastic gradient descent one data point per "
     "step, written out as formulas: one sheet per optimizer, one row per step, several epochs "
     "unrolled down the sheet (no macros). Each optimizer sheet computes exactly what the "
     "torch.optim class named at its top computes; 'xlbridge check' proves it in float64."),
    ("data", "The points: x and the noise are seeded values, y = true_a·x + true_b + noise. "
     "Change true a / true b (yellow) to move the line."),
    ("basic SGD", "Per step: prediction, squared error, the derivative estimated by finite "
     "differences next to the analytic derivative, and the update a − lr·de/da. Watch b: with x up "
     "to 100, the slope's gradient dwarfs the intercept's, so plain SGD barely moves b."),
    ("momentum, adagrad, rmsprop", "torch.optim.SGD with momentum (the buffer starts as the first "
     "gradient), Adagrad (running sum of squared gradients) and RMSprop (running mean of them)."),
    ("adam, adamw", "torch.optim.Adam with bias correction and eps as torch places them; AdamW "
     "shrinks the parameters by (1 − lr·weight_decay) before the Adam step (decoupled decay)."),
    ("adam onecycle", "Adam under torch.optim.lr_scheduler.OneCycleLR, stepped once per step: the "
     "learning rate warms up from max_lr/div_factor to max_lr along a half cosine, then anneals to "
     "max_lr/div_factor/final_div_factor, while beta1 moves the opposite way between max_momentum "
     "and base_momentum. Each row computes its lr and beta1 in closed form from its step number."),
    ("course adam", "The course sheet's 'adam': no bias correction and no eps. It is NOT "
     "torch.optim.Adam and is checked against its own reference (models.linear.CourseAdam)."),
    ("What to change", "Yellow cells: the hyperparameters of each sheet (lr, momentum, betas, eps, "
     "weight decay, ...) and the true a, b on the data sheet. Orange cells: the starting a and b "
     "(step 0). Every formula reads these cells, so the whole sheet follows an edit."),
    ("What to look for", "The green 'mean loss per epoch' table and its chart beside each table: "
     "how fast each optimizer gets down to the noise floor, and how a and b approach true a, b."),
    ("Checking", "Row 2 of every sheet gives the equation of each column. 'xlbridge check "
     "graddesc.xlsx' recalculates the workbook in LibreOffice, reads the hyperparameters and data "
     "back by name, runs torch.optim on them and compares every step's a, b, loss, gradients and "
     "optimizer state (relative tolerance 1e-9)."),
]


def build_graddesc(path, config: GraddescConfig | None = None) -> Path:
    """Write the gradient-descent workbook to `path`; returns the path.

    The config is validated before anything is written; a bad value raises
    `XlbridgeInputError` and leaves `path` untouched.
    """
    config = GraddescConfig() if config is None else config
    hparams = check_config(config)
    data = make_data(config.n_points, config.true_a, config.true_b, config.noise, config.x_max, config.seed)

    wb = Workbook()
    wb.remove(wb.active)
    intro = intro_sheet(wb, "Gradient descent: y = a·x + b, from SGD to Adam", _INTRO)
    _data_sheet(wb, data)
    losses = {}
    for title, optimizer in SHEETS.items():
        losses[title], epochs = _optimizer_sheet(wb, title, optimizer, hparams[optimizer], config, config.n_points)
    # Every optimizer's loss on one chart, under the intro text: which one gets there first.
    intro.add_chart(line_chart("mean loss per epoch, every optimizer", "epoch", "mean squared error (log scale)",
                               losses, epochs, log_y=True), f"B{intro.max_row + 2}")
    for ws in wb.worksheets:
        print_on_one_page(ws)
    set_workbook_kind(wb, GRADDESC.kind)
    return save_atomic(wb, path)


def build_default(path) -> Path:
    """The main command's graddesc.xlsx: seeded synthetic points, like the course's."""
    return build_graddesc(path, GraddescConfig())
