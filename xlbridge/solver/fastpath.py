"""The fast path: collaborative-filtering sheets, with a hand-written exact gradient.

The lesson's sheets all have one shape (models/collab.py, DotProduct / DotProductBias):

    prediction[u, m] = user_factors[u] . movie_factors[m] (+ user_bias[u] + movie_bias[m])
    objective        = SQRT(SUMXMY2(ratings, predictions) [/ COUNT(ratings)])

written cell by cell as `=IF(H2="",0,MMULT($B25:$F25,H$19:H$23))` (+ bias cells), with
SUMPRODUCT, or squashed into y_range as `lo+(hi-lo)/(1+EXP(-(...)))` (the `bias_sigmoid`
sheet). When the objective's formulas have exactly this shape, we read the position of every
factor cell once and evaluate the loss and its gradient in numpy: no torch graph, about 30
microseconds a step on the course sheet (the compiled formulas take about 1.7 ms).

Recognising a shape is not proof, so `solving.py` compares this objective with the
workbook's formulas (formula.Evaluator) at the start and at the solution (1e-9), and falls
back to the formula path, saying so, if they ever differ.
"""

from __future__ import annotations

import numpy as np

from xlbridge.solver.formula import Call, Const, Evaluator, Name, Op, Range, Ref, is_number, resolve


class NotRecognised(Exception):
    pass


class CollabObjective:
    """fg(x) -> (loss, gradient) for 'prediction = dot product (+ biases); loss = RMSE'.

    One row per prediction cell e that is paired with a rating:
        a[e], b[e]     (K,) positions in x of the two factor vectors
        bias_in[e]     (J,) positions of bias cells added to the dot product (inside the IF)
        bias_out[e]    (L,) positions of bias cells added after the IF
        r[e]           the rating;  fixed[e]: the IF gave the constant fixed_value[e]
        squash         None, or (lo, span) per row: sigmoid_range(z, lo, lo + span)
    """

    def __init__(self, a, b, bias_in, bias_out, r, fixed, fixed_value, squash, denom, sqrt, n):
        self.a, self.b, self.bias_in, self.bias_out = a, b, bias_in, bias_out   # (E, K), (E, K), (E, J), (E, L)
        self.r, self.fixed, self.fixed_value = r, fixed, fixed_value           # (E,)
        self.squash, self.denom, self.sqrt, self.n = squash, denom, sqrt, n

    def fg(self, x):
        x = np.asarray(x, dtype=float)
        xa, xb = x[self.a], x[self.b]                                          # (E, K)
        z = (xa * xb).sum(1) + x[self.bias_in].sum(1)                          # (E,)
        if self.squash is None:
            core, dcore = z, 1.0
        else:                                    # lo + (hi - lo) / (1 + exp(-z)), as the cell has it
            lo, span = self.squash
            s = 1.0 / (1.0 + np.exp(-z))
            core, dcore = lo + span / (1.0 + np.exp(-z)), span * s * (1.0 - s)
        pred = np.where(self.fixed, self.fixed_value, core) + x[self.bias_out].sum(1)
        d = pred - self.r                                                      # (E,)
        sse = float(d @ d) / self.denom
        loss = np.sqrt(sse) if self.sqrt else sse
        # d loss / d pred, then the chain rule through the squash, the dot products and the biases
        gp = d * (1.0 / (self.denom * loss) if self.sqrt else 2.0 / self.denom)   # (E,)
        gz = np.where(self.fixed, 0.0, gp) * dcore                             # the IF blocks the dot
        g = np.bincount(self.a.ravel(), (gz[:, None] * xb).ravel(), minlength=self.n)
        g += np.bincount(self.b.ravel(), (gz[:, None] * xa).ravel(), minlength=self.n)
        for idx, w in ((self.bias_in, gz), (self.bias_out, gp)):
            if idx.shape[1]:
                g += np.bincount(idx.ravel(), np.repeat(w, idx.shape[1]), minlength=self.n)
        return float(loss), g


def _deref(ev: Evaluator, node, sheet):
    while isinstance(node, Name):
        node = ev.name_tree(node.name, sheet)
    return node


def _ranges_of(ev, node, host) -> Range:
    node = _deref(ev, node, host[0])
    if not isinstance(node, Ref):
        raise NotRecognised
    return resolve(node, *host)


def _x_positions(rng: Range, xpos) -> list[int]:
    out = [xpos.get(c) for c in rng.cells()]
    if any(p is None for p in out):
        raise NotRecognised
    return out


def _terms(ev, node, sheet) -> list:
    """a + b + c -> [a, b, c]."""
    node = _deref(ev, node, sheet)
    if isinstance(node, Op) and node.op == "+":
        return _terms(ev, node.args[0], sheet) + _terms(ev, node.args[1], sheet)
    return [node]


def _dot(ev, node, host, xpos):
    """MMULT(row, column) or SUMPRODUCT(a, b) of changing cells -> (a positions, b positions)."""
    if isinstance(node, Call) and node.fn in ("MMULT", "SUMPRODUCT") and len(node.args) == 2:
        ra, rb = (_ranges_of(ev, n, host) for n in node.args)
        if node.fn == "MMULT":
            if ra.shape[0] != 1 or rb.shape[1] != 1 or ra.shape[1] != rb.shape[0]:
                raise NotRecognised
        elif ra.shape != rb.shape:
            raise NotRecognised
        return _x_positions(ra, xpos), _x_positions(rb, xpos)
    raise NotRecognised


def _squash(ev, node, host, xpos):
    """lo + (hi - lo) / (1 + EXP(-z)), i.e. sigmoid_range(z, lo, hi) -> (lo, hi - lo, z) or None."""
    if not (isinstance(node, Op) and node.op == "+"):
        return None
    lo, frac = node.args
    if not (isinstance(frac, Op) and frac.op == "/"):
        return None
    span, den = frac.args
    if not (isinstance(den, Op) and den.op == "+" and den.args[0] == Const(1.0)):
        return None
    e = den.args[1]
    if not (isinstance(e, Call) and e.fn == "EXP" and len(e.args) == 1
            and isinstance(e.args[0], Op) and e.args[0].op == "neg"):
        return None
    if _reads_x(ev, lo, host, xpos) or _reads_x(ev, span, host, xpos):
        raise NotRecognised
    lo_v, span_v = (ev.scalar(ev.eval(n, host)) for n in (lo, span))
    if not (is_number(lo_v) and is_number(span_v)):
        raise NotRecognised
    return float(lo_v), float(span_v), e.args[0].args[0]


def _single_cells(ev, terms, key, xpos) -> list[int]:
    out = []
    for t in terms:
        rng = _ranges_of(ev, t, key)
        if rng.shape != (1, 1):
            raise NotRecognised
        out += _x_positions(rng, xpos)
    return out


def _prediction(ev, key, xpos):
    """One prediction cell, read as
        [IF(data, constant, ] squash?(dot + bias_in) [)] + bias_out
    -> (a, b, bias_in, bias_out, fixed, fixed_value, squash); `fixed` when the IF picks
    the constant, `squash` (lo, hi - lo) for a sigmoid into y_range, else None."""
    tree = ev.tree(key)
    if tree is None:
        raise NotRecognised
    node = _deref(ev, tree, key[0])
    bias_out, fixed, fixed_value = [], False, None
    squash = _squash(ev, node, key, xpos)
    if squash is None:
        terms = _terms(ev, node, key[0])
        main = [t for t in terms if not isinstance(t, Ref | Name)]
        if len(main) != 1:
            raise NotRecognised
        bias_out = _single_cells(ev, [t for t in terms if isinstance(t, Ref | Name)], key, xpos)
        node = main[0]
        if isinstance(node, Call) and node.fn == "IF" and len(node.args) == 3:
            cond, then, other = node.args
            if not isinstance(then, Const) or _reads_x(ev, cond, key, xpos):
                raise NotRecognised
            c = ev.scalar(ev.eval(cond, key))          # the condition reads data only
            if not (isinstance(c, bool) or is_number(c)):
                raise NotRecognised
            fixed, fixed_value, node = bool(c), then.value, _deref(ev, other, key[0])
        squash = _squash(ev, node, key, xpos)
    if squash is not None:
        node = squash[2]
    inner = _terms(ev, node, key[0])
    core = [t for t in inner if not isinstance(t, Ref | Name)]
    if len(core) != 1:
        raise NotRecognised
    a, b = _dot(ev, core[0], key, xpos)
    bias_in = _single_cells(ev, [t for t in inner if isinstance(t, Ref | Name)], key, xpos)
    return a, b, bias_in, bias_out, fixed, fixed_value, (squash[:2] if squash else None)


def recognise(ev: Evaluator, objective: tuple, x_cells: list) -> CollabObjective:
    """A CollabObjective for the objective cell, or NotRecognised."""
    xpos = {c: i for i, c in enumerate(x_cells)}
    tree = ev.tree(objective)
    if tree is None:
        raise NotRecognised
    node, sqrt = _deref(ev, tree, objective[0]), False
    if isinstance(node, Call) and node.fn == "SQRT" and len(node.args) == 1:
        node, sqrt = _deref(ev, node.args[0], objective[0]), True
    denom = 1.0
    if isinstance(node, Op) and node.op == "/":
        node, d = node.args
        dv = ev.scalar(ev.eval(d, objective))      # e.g. COUNT(ratings): data only
        if not is_number(dv) or dv <= 0 or _reads_x(ev, d, objective, xpos):
            raise NotRecognised
        denom = float(dv)
    node = _deref(ev, node, objective[0])
    if not (isinstance(node, Call) and node.fn == "SUMXMY2" and len(node.args) == 2):
        raise NotRecognised
    r1, r2 = (_ranges_of(ev, n, objective) for n in node.args)
    if r1.shape != r2.shape:
        raise NotRecognised
    rows = []
    for c1, c2 in zip(r1.cells(), r2.cells()):
        t1, t2 = ev.tree(c1), ev.tree(c2)
        if (t1 is None) == (t2 is None):
            raise NotRecognised                     # exactly one side holds the predictions
        rating_cell, pred_cell = (c1, c2) if t1 is None else (c2, c1)
        if rating_cell in xpos:
            raise NotRecognised
        rating = ev.value(rating_cell)
        a, b, bias_in, bias_out, fixed, fixed_value, squash = _prediction(ev, pred_cell, xpos)
        if fixed and not is_number(fixed_value):
            if bias_out:
                raise NotRecognised                 # text + number is #VALUE!: leave it to the formulas
            continue                                # a text result: SUMXMY2 skips the pair
        if not is_number(rating):
            continue                                # no rating: SUMXMY2 skips the pair
        rows.append((a, b, bias_in, bias_out, float(rating), fixed, float(fixed_value) if fixed else 0.0,
                     squash is not None, *(squash or (0.0, 1.0))))
    if not rows:
        raise NotRecognised
    for i in (0, 2, 3, 7):      # same number of factors and biases, squashed or not, in every row
        if len({len(r[i]) if isinstance(r[i], list) else r[i] for r in rows}) != 1:
            raise NotRecognised
    E = len(rows)
    index = lambda i: np.array([r[i] for r in rows], dtype=np.int64).reshape(E, -1)   # noqa: E731
    value = lambda i: np.array([r[i] for r in rows])                                   # noqa: E731
    squash = (value(8), value(9)) if rows[0][7] else None
    return CollabObjective(index(0), index(1), index(2), index(3), value(4), value(5), value(6),
                           squash, denom, sqrt, len(x_cells))


def _reads_x(ev, node, host, xpos) -> bool:
    """Whether a sub-formula reads a changing cell (directly; enough for COUNT(ratings))."""
    from xlbridge.solver.formula import walk
    for n in walk(node):
        if isinstance(n, Ref) and any(c in xpos for c in resolve(n, *host).cells()):
            return True
    return False
