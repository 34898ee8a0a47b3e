"""The gradient-descent workbook: built by xlbridge/builders/graddesc.py, recalculated by the
real LibreOffice, equal to torch.optim (models/linear.py) on every optimizer sheet.

All LibreOffice work is one batch (`recalculate_many`), built once per module: the default
workbook, a few with randomly drawn hyperparameters and data, and copies of the default that
a user edited (a hyperparameter changed, a formula broken, a value out of range).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from conftest import REPO
from xlbridge.models.line import make_data
from xlbridge.models.linear import train_torch
from xlbridge.models.optimizers import STATE_KEYS
from xlbridge.builders.graddesc import SHEETS, GraddescConfig, build_graddesc
from xlbridge.errors import XlbridgeInputError
from xlbridge.parity.graddesc import check_graddesc

N_DRAWS = 3
# The default hyperparameters the sheets must show, written out here (not read from the code).
LESSON_DEFAULTS = {
    "sgd": {"lr": 5e-5},
    "momentum": {"lr": 5e-6, "momentum": 0.9, "dampening": 0.0},
    "adagrad": {"lr": 3.0, "lr_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10},
    "rmsprop": {"lr": 0.1, "alpha": 0.99, "eps": 1e-8},
    "adam": {"lr": 0.5, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
    "adamw": {"lr": 0.5, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01},
    "adam_onecycle": {"max_lr": 3.0, "pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4,
                      "base_momentum": 0.85, "max_momentum": 0.95, "beta2": 0.999, "eps": 1e-8},
    "adam_course": {"lr": 0.3, "beta1": 0.9, "beta2": 0.999},
}
SMALL = GraddescConfig(epochs=2)  # the default data and hyperparameters, 60 steps a sheet


def named_cells(wb, sheet: str, name: str):
    """The openpyxl cells of a sheet-scoped defined name (a column, or one cell)."""
    ws = wb[sheet]
    (title, coord), = ws.defined_names[name].destinations
    cells = wb[title][coord.replace("$", "")]
    if not isinstance(cells, tuple):
        return [cells]
    return [row[0] if isinstance(row, tuple) else row for row in cells]


def sig6(x: float) -> float:
    """Round to 6 significant digits, as a person would type a hyperparameter."""
    return float(f"{x:.6g}")


def random_config(rng) -> GraddescConfig:
    """Data and hyperparameters drawn over wide ranges, including large eps, dampening, lr
    decay, an initial accumulator and weight decay, where a misplaced term would show.
    Plain SGD and momentum get learning rates below their stability limit 1/max(x)**2."""
    x_max = int(rng.integers(2, 40))
    u = lambda lo, hi: sig6(rng.uniform(lo, hi))
    logu = lambda lo, hi: sig6(10 ** rng.uniform(np.log10(lo), np.log10(hi)))
    stable = 1.0 / (x_max ** 2 + 1)
    hparams = {
        "sgd": {"lr": sig6(stable * rng.uniform(0.05, 0.8))},
        "momentum": {"lr": sig6(stable * rng.uniform(0.01, 0.1)), "momentum": u(0, 0.9), "dampening": u(0, 0.9)},
        "adagrad": {"lr": logu(0.05, 2), "lr_decay": u(0, 0.3), "initial_accumulator_value": u(0, 5),
                    "eps": logu(1e-10, 1)},
        "rmsprop": {"lr": logu(0.005, 0.3), "alpha": u(0.5, 0.999), "eps": logu(1e-8, 1)},
        "adam": {"lr": logu(0.01, 0.5), "beta1": u(0, 0.95), "beta2": u(0.5, 0.9999), "eps": logu(1e-8, 1)},
        "adamw": {"lr": logu(0.01, 0.5), "beta1": u(0, 0.95), "beta2": u(0.5, 0.9999), "eps": logu(1e-8, 1),
                  "weight_decay": u(0, 0.5)},
        "adam_onecycle": {"max_lr": logu(0.05, 1), "pct_start": u(0.2, 0.6), "div_factor": u(5, 50),
                          "final_div_factor": logu(10, 1e4), "base_momentum": u(0.7, 0.85),
                          "max_momentum": u(0.85, 0.99), "beta2": u(0.5, 0.9999), "eps": logu(1e-8, 1)},
        "adam_course": {"lr": logu(0.01, 0.5), "beta1": u(0, 0.95), "beta2": u(0.5, 0.9999)},
    }
    return GraddescConfig(
        n_points=int(rng.integers(5, 13)), true_a=u(-3, 3), true_b=u(-20, 20), noise=u(0.1, 3),
        x_max=x_max, seed=int(rng.integers(0, 1000)), epochs=int(rng.integers(2, 4)),
        a_init=u(-2, 2), b_init=u(-2, 2), fd_step=logu(1e-3, 0.1), hparams=hparams,
    )


def edit(src: Path, dst: Path, fn) -> Path:
    """Open a built workbook with openpyxl as a user's script would, change it, save a copy."""
    wb = openpyxl.load_workbook(src)
    fn(wb)
    wb.save(dst)
    return dst


def users_edits(wb):
    """What a user might do to a built workbook: change hyperparameter and start cells on
    three sheets, and (by mistake) break formulas on two others."""
    named_cells(wb, "adam", "lr")[0].value = 0.05
    named_cells(wb, "momentum", "momentum")[0].value = 0.5
    named_cells(wb, "rmsprop", "a_init")[0].value = -3.0
    # a plausible mistake: AdamW's update without torch's bias correction of the first moment
    for name in ("new_a", "new_b"):
        for cell in named_cells(wb, "adamw", name):
            cell.value = re.sub(r"/[A-Z]+\d+\*", "*", cell.value, count=1)  # drops "/bc1"
    # a single step's update off by one part in a million
    cell = named_cells(wb, "basic SGD", "new_a")[4]
    cell.value = cell.value.replace("-lr*", "-lr*1.000001*")


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    """Every workbook of this module, recalculated in one LibreOffice run, by role."""
    from xlbridge.engine import recalculate_many

    tmp = tmp_path_factory.mktemp("graddesc")
    paths = {"default": REPO / "workbooks" / "graddesc.xlsx"}   # the default build, byte for byte (test_workbooks)
    rng = np.random.default_rng(20240607)
    configs = {f"draw{i}": random_config(rng) for i in range(N_DRAWS)}
    for key, config in configs.items():
        paths[key] = build_graddesc(tmp / f"{key}.xlsx", config)
    # users' edits are made on a small build (2 epochs): the same sheets, a fifth of the rows
    small = build_graddesc(tmp / "small.xlsx", SMALL)
    paths["edited"] = edit(small, tmp / "edited.xlsx", users_edits)
    paths["beta1_out_of_range"] = edit(
        small, tmp / "badbeta.xlsx", lambda wb: setattr(named_cells(wb, "adamw", "beta1")[0], "value", 1.5))
    recalculated = recalculate_many(list(paths.values()))
    out = dict(zip(paths, recalculated))
    out["configs"] = configs
    return out


def by_sheet(comparisons):
    out = {}
    for c in comparisons:
        out.setdefault(c.sheet, {})[c.quantity] = c
    return out


@pytest.mark.libreoffice
def test_default_workbook_equals_torch_on_every_sheet(books):
    book = books["default"]
    assert book.kind == "graddesc"
    result = by_sheet(check_graddesc(book))
    assert list(result) == ["data", *SHEETS]
    assert result["data"]["y"].cells == 30 and result["data"]["y"].passed       # y = true_a * x + true_b + noise
    for sheet, optimizer in SHEETS.items():
        got = result[sheet]
        must = {"a", "b", "pred", "loss", "grad_a", "grad_b", "new_a", "new_b", "epoch_loss"}
        must |= {f"{k}_{p}" for k in STATE_KEYS[optimizer] for p in "ab"}
        assert must <= set(got), (sheet, must - set(got))
        for c in got.values():
            if c.label:                                   # x and y of every step, as the data sheet has them
                assert c.cells == 300 and c.passed, (sheet, c)
            elif c.quantity.endswith("_start") or c.quantity in ("initial_lr", "min_lr", "total_steps", "warmup_end"):
                assert c.cells == 1 and c.passed, (sheet, c)   # step 0 and OneCycleLR's derived cells
            else:
                assert c.cells == (10 if c.quantity == "epoch_loss" else 300), (sheet, c)
                assert c.relative and c.passed, (sheet, c)


@pytest.mark.libreoffice
def test_default_workbook_values_match_an_independent_torch_run(books):
    """Not through the checker: the values the sheet shows, against torch run here on the
    builder's own inputs (the seeded data and the default hyperparameters)."""
    book = books["default"]
    d = make_data()
    np.testing.assert_allclose(book.values("y").ravel(), d.y, rtol=1e-14)
    for sheet, optimizer in SHEETS.items():
        want = train_torch(d.x, d.y, optimizer, epochs=10, device="cpu")
        for q in ("new_a", "new_b", "loss", "epoch_loss"):
            got = book.values(q, sheet).ravel()
            assert np.max(np.abs(got - want[q])) <= 1e-9 * np.max(np.abs(want[q])), (sheet, q)


@pytest.mark.libreoffice
@pytest.mark.parametrize("draw", range(N_DRAWS))
def test_random_hyperparameters_and_data_equal_torch(draw, books):
    book, config = books[f"draw{draw}"], books["configs"][f"draw{draw}"]
    comparisons = check_graddesc(book)
    assert {c.sheet for c in comparisons} == {"data", *SHEETS}
    failed = [c for c in comparisons if not c.passed]
    assert not failed, failed
    # the checker ran torch on what the sheets hold: the drawn values, read back by name
    assert book.value("lr", "adam") == config.hparams["adam"]["lr"]
    assert book.values("a", "adam").size == config.n_points * config.epochs


@pytest.mark.libreoffice
def test_editing_hyperparameter_cells_is_followed_and_still_agrees(books):
    book = books["edited"]
    result = by_sheet(check_graddesc(book))
    for sheet in ("adam", "momentum", "rmsprop", "adagrad", "course adam"):
        assert all(c.passed for c in result[sheet].values()), sheet
    assert book.values("a", "rmsprop")[0, 0] == -3.0  # step 1 starts from the edited a_init
    # the edits reached the formulas: torch with the built values no longer matches
    d = make_data()
    for sheet in ("adam", "momentum", "rmsprop"):
        built = train_torch(d.x, d.y, SHEETS[sheet], epochs=SMALL.epochs, device="cpu").new_a
        assert np.max(np.abs(book.values("new_a", sheet).ravel() - built)) > 1e-3, sheet


@pytest.mark.libreoffice
def test_a_wrong_formula_fails_the_check(books):
    result = by_sheet(check_graddesc(books["edited"]))
    c = result["adamw"]["new_a"]
    assert not c.passed and c.max_diff > 1e-3  # the missing bias correction
    c = result["basic SGD"]["new_a"]
    assert not c.passed and 1e-9 < c.max_diff < 1e-4  # a one-in-a-million slip is caught too
    assert result["basic SGD"]["loss"].passed is False  # and everything after it moves


@pytest.mark.libreoffice
def test_out_of_range_hyperparameter_cell_is_a_clear_error(books):
    with pytest.raises(XlbridgeInputError, match=r"sheet 'adamw': the 'beta1' parameter of adamw must be a number in \[0, 1\); got 1.5"):
        check_graddesc(books["beta1_out_of_range"])


# --- no LibreOffice needed below -------------------------------------------------------------


@pytest.fixture(scope="module")
def built():
    """The committed workbook: the default build, byte for byte (tests/test_workbooks.py)."""
    return openpyxl.load_workbook(REPO / "workbooks" / "graddesc.xlsx")


def test_layout_names_and_styles(built):
    wb = built
    assert wb.sheetnames == ["intro", "data", *SHEETS]
    assert wb.defined_names["xlbridge_kind"].attr_text == '"graddesc"'
    for name in ("x", "y", "noise", "true_a", "true_b"):
        assert name in wb.defined_names
    for sheet, optimizer in SHEETS.items():
        ws = wb[sheet]
        assert ws.freeze_panes == "A3"
        assert len(ws._charts) == 1
        for key, value in LESSON_DEFAULTS[optimizer].items():
            cell, = named_cells(wb, sheet, key)
            assert cell.value == value and cell.fill.fgColor.rgb.endswith("FFF2CC"), (sheet, key)
        for name in ("a_init", "b_init"):
            cell, = named_cells(wb, sheet, name)
            assert cell.value == 1.0 and cell.fill.fgColor.rgb.endswith("F8CBAD")
        a = named_cells(wb, sheet, "a")
        assert len(a) == 300 and a[0].value.startswith("=") and a[0].row == 4
        assert named_cells(wb, sheet, "new_a")[0].row == 4
        # the update reads the hyperparameter cells by name, so an edit there is followed
        update = named_cells(wb, sheet, "new_a")[10].value
        if optimizer == "adagrad":  # lr enters through the decayed rate column
            update += named_cells(wb, sheet, "clr")[10].value
        for key in ("lr", "eps") if optimizer in ("adagrad", "rmsprop", "adam", "adamw") else ():
            assert re.search(rf"\b{key}\b", update), (sheet, update)


def test_torch_first_step_rules_in_the_formulas(built):
    buf = named_cells(built, "momentum", "momentum_buffer_a")[0].value
    assert buf.startswith("=IF(") and "dampening" in buf
    # the state's step-0 row holds torch's initial state
    first_sum = named_cells(built, "adagrad", "sum_a")[0]
    assert built["adagrad"].cell(first_sum.row - 1, first_sum.column).value == "=initial_accumulator_value"
    first_m = named_cells(built, "adam", "exp_avg_a")[0]
    assert built["adam"].cell(first_m.row - 1, first_m.column).value == "=0"
    course = named_cells(built, "course adam", "new_a")[0].value
    assert "eps" not in course and "bias" not in course


def test_build_is_deterministic(tmp_path):
    p1 = build_graddesc(tmp_path / "a.xlsx", GraddescConfig(epochs=2))
    p2 = build_graddesc(tmp_path / "b.xlsx", GraddescConfig(epochs=2))
    w1, w2 = openpyxl.load_workbook(p1), openpyxl.load_workbook(p2)
    for ws in w1.worksheets:
        assert [[c.value for c in r] for r in ws.iter_rows()] == \
            [[c.value for c in r] for r in w2[ws.title].iter_rows()]


@pytest.mark.parametrize("config, fragment", [
    (GraddescConfig(hparams={"adam": {"beta1": 1.0}}), "the 'beta1' parameter of adam must be a number in [0, 1); got 1.0"),
    (GraddescConfig(hparams={"adamw": {"eps": 0.0}}), "the 'eps' parameter of adamw must be a number > 0; got 0.0"),
    (GraddescConfig(hparams={"sgd": {"lr": -1e-4}}), "the 'lr' parameter of sgd must be a number >= 0; got -0.0001"),
    (GraddescConfig(hparams={"rmsprop": {"beta1": 0.9}}), "rmsprop: unknown parameter 'beta1'"),
    (GraddescConfig(hparams={"nadam": {}}), "unknown optimizer 'nadam'"),
    (GraddescConfig(hparams={"adam_onecycle": {"pct_start": 0.01}}, epochs=1), "end of warm-up"),
    (GraddescConfig(epochs=0), "epochs must be an integer >= 1; got 0"),
    (GraddescConfig(n_points=1), "n_points must be an integer in [2, 1000]; got 1"),
    (GraddescConfig(noise=-1.0), "noise must be a number >= 0; got -1.0"),
    (GraddescConfig(fd_step=0.0), "fd_step must be a number > 0; got 0.0"),
    (GraddescConfig(a_init=float("nan")), "a_init must be a number"),
])
def test_bad_config_raises_and_writes_nothing(config, fragment, tmp_path):
    new = tmp_path / "new.xlsx"
    old = tmp_path / "old.xlsx"
    old.write_bytes(b"a user's workbook")
    for path in (new, old):
        with pytest.raises(XlbridgeInputError) as e:
            build_graddesc(path, config)
        assert fragment in str(e.value) and "\n" not in str(e.value)
    assert not new.exists()
    assert old.read_bytes() == b"a user's workbook"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.xlsx"]  # no temporary left over
