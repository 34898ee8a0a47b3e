"""The gradient-descent workbook's names (xlbridge/builders/graddesc.py; models/linear.py).

Every optimizer sheet's step columns are named after the trajectory's quantities in
models/linear.py (`a`, `grad_a`, `exp_avg_a`, ...), so parity compares a column with the array of
the same name. A sheet carries the columns of its optimizer only; T is the number of steps.
"""

from __future__ import annotations

from xlbridge.contracts import Name, SheetContract, WorkbookContract
from xlbridge.models.optimizers import OPTIMIZERS, STATE_KEYS

DATA = (  # workbook scope, on the data sheet
    Name("x", "N x 1", "data", "the points' x, seeded values (not RANDBETWEEN)"),
    Name("noise", "N x 1", "data", "the noise added to each y, seeded values"),
    Name("y", "N x 1", "output", "true_a * x + true_b + noise"),
    Name("true_a", "1 x 1", "input", "the true slope"),
    Name("true_b", "1 x 1", "input", "the true intercept"),
)

_STEP = "T x 1"
_columns = [
    Name("step_x", _STEP, "label", "the x of the data point this step uses, repeated from the data sheet"),
    Name("step_y", _STEP, "label", "its y, repeated from the data sheet"),
    Name("a", _STEP, "output", "the slope this step starts from (the previous step's new a)"),
    Name("b", _STEP, "output", "the intercept this step starts from"),
    Name("pred", _STEP, "output", "a * x + b"),
    Name("loss", _STEP, "output", "(pred - y)^2"),
    Name("fd_grad_a", _STEP, "output", "de/da estimated by a central difference (basic SGD)", optional=True),
    Name("fd_grad_b", _STEP, "output", "de/db estimated by a central difference (basic SGD)", optional=True),
    Name("grad_a", _STEP, "output", "de/da = x * de/db"),
    Name("grad_b", _STEP, "output", "de/db = 2 * (pred - y)"),
    *(Name(f"{key}_{p}", _STEP, "output", f"torch's optimizer.state[{p}]['{key}'] after the step", optional=True)
      for key in dict.fromkeys(k for keys in STATE_KEYS.values() for k in keys) for p in "ab"),
    Name("clr", _STEP, "output", "Adagrad's decayed learning rate", optional=True),
    Name("pct_t", _STEP, "output", "OneCycleLR: share of the current phase done", optional=True),
    Name("lr_t", _STEP, "output", "OneCycleLR: this step's learning rate", optional=True),
    Name("beta1_t", _STEP, "output", "OneCycleLR: this step's beta1", optional=True),
    Name("decayed_a", _STEP, "output", "AdamW: a * (1 - lr * weight_decay)", optional=True),
    Name("decayed_b", _STEP, "output", "AdamW: b * (1 - lr * weight_decay)", optional=True),
    Name("bias_correction1", _STEP, "output", "1 - beta1^t", optional=True),
    Name("bias_correction2", _STEP, "output", "1 - beta2^t", optional=True),
    Name("new_a", _STEP, "output", "a after the step"),
    Name("new_b", _STEP, "output", "b after the step"),
]
# step 0 (the row above step 1): a, b and every state column where they start
_columns += [Name(f"{n.name}_start", "1 x 1", "output", f"{n.name} at step 0", optional=True)
             for n in _columns if n.name in ("new_a", "new_b") or n.name.startswith(
                 tuple(k for keys in STATE_KEYS.values() for k in keys))]
_panel = [
    Name("optimizer", "1 x 1", "data", "the optimizer this sheet computes (a key of models/optimizers.py OPTIMIZERS)"),
    *(Name(key, "1 x 1", "input", f"the '{key}' hyperparameter", optional=True)
      for key in dict.fromkeys(k for hp in OPTIMIZERS.values() for k in hp)),
    Name("fd_step", "1 x 1", "input", "the finite difference's step h (basic SGD)", optional=True),
    Name("a_init", "1 x 1", "param", "the slope at step 0"),
    Name("b_init", "1 x 1", "param", "the intercept at step 0"),
    Name("initial_lr", "1 x 1", "output", "OneCycleLR: max_lr / div_factor", optional=True),
    Name("min_lr", "1 x 1", "output", "OneCycleLR: initial_lr / final_div_factor", optional=True),
    Name("total_steps", "1 x 1", "output", "OneCycleLR: the number of steps", optional=True),
    Name("warmup_end", "1 x 1", "output", "OneCycleLR: the step the warm-up ends at, pct_start * total_steps - 1",
         optional=True),
    Name("epoch_loss", "E x 1", "output", "the mean loss of each epoch"),
]
OPTIMIZER_SHEET = SheetContract("optimizer", tuple(_columns + _panel))
DATA_SHEET = SheetContract("data", ())

GRADDESC = WorkbookContract("graddesc", DATA, (DATA_SHEET, OPTIMIZER_SHEET))
