"""The `xlbridge` command: thin typer commands over library functions.

Exit codes: 0 success, 1 a run that completed with a negative answer (parity mismatch),
2 bad input or usage (one line on stderr, no traceback).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from xlbridge.errors import XlbridgeInputError
from xlbridge import params
from xlbridge.xlsx import edited_since_built

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Course workbooks with live formulas, proven equal to PyTorch models.")
out = Console()
err = Console(stderr=True)


def _fail(e: Exception) -> None:
    err.print(f"xlbridge: error: {e}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code=getattr(e, "exit_code", 2))


def _guard_overwrite(path: Path, force: bool) -> None:
    """Refuse to replace a file the user owns: anything xlbridge did not build, or a workbook
    it built whose cells were edited since (the fingerprint no longer matches)."""
    if force or not path.exists():
        return
    if path.is_dir():
        raise XlbridgeInputError(f"{path}: is a folder, not a workbook file")
    edited = edited_since_built(path)
    if edited is None:
        raise XlbridgeInputError(f"{path}: exists and was not written by xlbridge; pass --force to overwrite it")
    if edited:
        raise XlbridgeInputError(f"{path}: was edited since xlbridge built it; pass --force to overwrite it")


def report(results_by_book: dict[str, list]) -> bool:
    """Print the parity table; True when every quantity is within tolerance."""
    table = Table(title="Parity: LibreOffice recalculation vs PyTorch (float64)")
    for col in ("workbook", "sheet", "quantity", "cells", "max |diff|", "tol", ""):
        table.add_column(col, justify="right" if col in ("cells", "max |diff|", "tol") else "left")
    ok, cells, worst = True, 0, 0.0
    for book, results in results_by_book.items():
        for c in results:
            ok &= c.passed
            cells += c.cells
            worst = max(worst, c.max_diff)
            kind = " (rel)" if c.relative else ""
            table.add_row(book, c.sheet, c.quantity, str(c.cells), f"{c.max_diff:.2e}{kind}", f"{c.tol:.0e}",
                          "[green]ok[/green]" if c.passed else "[red]MISMATCH[/red]")
    out.print(table)
    n = sum(len(r) for r in results_by_book.values())
    verdict = "PASS" if ok else "FAIL"
    out.print(f"{verdict}: {n} quantities, {cells} cells checked, max |diff| {worst:.2e}")
    return ok


def run_checks(paths: list[Path]) -> bool:
    """Recalculate the workbooks in one LibreOffice start and compare them with the models."""
    from xlbridge.engine import recalculate_many
    from xlbridge.parity import check_book

    for p in paths:
        if not p.is_file():
            raise XlbridgeInputError(f"{p}: no such workbook")
    t = time.perf_counter()
    books = recalculate_many(paths)
    recalc_s = time.perf_counter() - t
    results = {p.name: check_book(b) for p, b in zip(paths, books)}
    ok = report(results)
    out.print(f"LibreOffice recalculation {recalc_s:.1f} s, comparison {time.perf_counter() - t - recalc_s:.1f} s")
    return ok


@app.command()
def build(
    out_dir: Path = typer.Option(Path("workbooks"), "--out", help="Folder the workbooks are written to."),
    ratings: Optional[Path] = typer.Option(None, help="A MovieLens ratings file or folder (ml-latest-small or ml-100k layout)."),
    dataset: Optional[str] = typer.Option(None, help="A dataset to download and cache: ml-latest-small or ml-100k."),
    users: int = typer.Option(15, help="Users in the crosstab (the most active)."),
    movies: int = typer.Option(15, help="Movies in the crosstab (the most rated)."),
    factors: int = typer.Option(5, help="Latent factors per user and movie."),
    seed: int = typer.Option(42, help="Seed of the parameters' start values."),
    epochs: int = typer.Option(10, help="Epochs unrolled down each optimizer sheet of graddesc.xlsx."),
    hparam: list[str] = typer.Option([], help="A graddesc hyperparameter, OPTIMIZER.NAME=VALUE (e.g. adam.lr=0.1); repeatable."),
    check: bool = typer.Option(False, "--check", help="Recalculate the built workbooks in LibreOffice and print the parity report."),
    force: bool = typer.Option(False, help="Overwrite files that were not written by xlbridge."),
):
    """Build the workbooks.

    With no --ratings or --dataset, builds every workbook from the offline default (a labelled
    synthetic MovieLens sample, a shipped text) into --out. With real ratings, builds the
    collaborative-filtering workbook from them. Every option is validated before anything is
    written.
    """
    from xlbridge.builders.collab import CollabConfig, build_collab
    from xlbridge.builders.graddesc import GraddescConfig, build_graddesc, check_config
    from xlbridge.data import crosstab, load_ratings, synthetic_ratings
    from xlbridge.download import fetch
    from xlbridge.workbooks import WORKBOOKS

    try:
        if ratings and dataset:
            raise XlbridgeInputError("give --ratings or --dataset, not both")
        real = ratings is not None or dataset is not None
        if real and (epochs != 10 or hparam):
            raise XlbridgeInputError("--epochs and --hparam set graddesc.xlsx, which --ratings/--dataset do not build")
        if out_dir.exists() and not out_dir.is_dir():
            raise XlbridgeInputError(f"{out_dir}: --out must be a folder; this is a file")
        data = load_ratings(ratings) if ratings else load_ratings(fetch(dataset)) if dataset else synthetic_ratings()
        collab = CollabConfig(n_users=users, n_movies=movies, n_factors=factors, seed=seed).validate()
        crosstab(data, users, movies)  # enough users and movies? (fails before any file is written)
        graddesc = GraddescConfig(epochs=epochs, hparams=_parse_hparams(hparam))
        check_config(graddesc)
        builders = {"collab": lambda p: build_collab(data, p, collab), "graddesc": lambda p: build_graddesc(p, graddesc)}
        # real ratings only change the collaborative-filtering workbook
        specs = [s for s in WORKBOOKS if not real or s.kind == "collab"]
        targets = [out_dir / s.filename for s in specs]
        for target in targets:
            _guard_overwrite(target, force)
        t0 = time.perf_counter()
        for spec, target in zip(specs, targets):
            t = time.perf_counter()
            builders.get(spec.kind, spec.build_default)(target)
            out.print(f"built {target} in {time.perf_counter() - t:.1f} s")
        out.print(f"{len(targets)} workbook(s) built in {time.perf_counter() - t0:.1f} s")
        if check and not run_checks(targets):
            raise typer.Exit(code=1)
    except XlbridgeInputError as e:
        _fail(e)


def _parse_hparams(items: list[str]) -> dict[str, dict[str, float]]:
    """['adam.lr=0.1', 'adam.beta1=0.8'] -> {'adam': {'lr': 0.1, 'beta1': 0.8}}."""
    out_: dict[str, dict[str, float]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        opt, dot, name = key.strip().partition(".")
        try:
            number = float(value)
        except ValueError:
            number = None
        if not (eq and dot and opt and name and number is not None):
            raise XlbridgeInputError(f"--hparam {item!r}: expected OPTIMIZER.NAME=VALUE, e.g. adam.lr=0.1")
        out_.setdefault(opt, {})[name.strip()] = number
    return out_


@app.command()
def check(workbooks: list[Path] = typer.Argument(..., help="Workbooks written by 'xlbridge build'.")):
    """Recalculate workbooks in LibreOffice and compare every checked cell with PyTorch.

    Exits 1 when any quantity differs by more than its tolerance (1e-9, float64).
    """
    try:
        if not run_checks(workbooks):
            raise typer.Exit(code=1)
    except XlbridgeInputError as e:
        _fail(e)


@app.command()
def download(
    name: str = typer.Argument(..., help="ml-latest-small, ml-100k or nietzsche."),
    url: Optional[str] = typer.Option(None, help="Download from this address instead (a mirror)."),
    refresh: bool = typer.Option(False, help="Download again even when a verified copy is cached."),
):
    """Download a dataset into the cache, verify its checksums, print where it is."""
    from xlbridge.download import fetch

    try:
        out.print(str(fetch(name, url, refresh=refresh, progress=sys.stderr.isatty())))
    except XlbridgeInputError as e:
        _fail(e)


@app.command()
def solve(
    workbook: Path = typer.Argument(..., help="An .xlsx/.xlsm with Excel Solver models (solver_* names)."),
    sheet: Optional[str] = typer.Option(None, "--sheet", help="Solve only this sheet's model (default: every sheet that has one)."),
    list_only: bool = typer.Option(False, "--list", help="List every sheet's Solver model and exit; writes nothing."),
    out_path: Optional[Path] = typer.Option(None, "--out", help="Write the solved workbook here (default: <stem>.solved.xlsx beside the input)."),
    in_place: bool = typer.Option(False, "--in-place", help="Write the solution into WORKBOOK itself (atomically)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output file."),
    max_time: Optional[float] = typer.Option(None, "--max-time", help="Stop each model after this many seconds (overrides solver_tim)."),
    check: bool = typer.Option(True, "--check/--no-check", help="Recalculate the solved workbook in LibreOffice and confirm the objective (1e-9)."),
):
    """Solve a workbook's Excel Solver models with scipy, headless, into a new workbook.

    Without --sheet every sheet's model is solved (broken ones are skipped with a note).
    Exit 0 when every model is solved, 1 when one did not converge or the LibreOffice check
    differs, 2 for bad input.
    """
    from xlbridge.solver.command import solve_command

    try:
        code = solve_command(workbook, sheet=sheet, list_only=list_only, out=out_path, in_place=in_place,
                             force=force, max_time=max_time, check=check, console=out)
    except XlbridgeInputError as e:
        _fail(e)
    raise typer.Exit(code=code)


@app.command()
def train(
    text: Optional[str] = typer.Argument(None, help="A UTF-8 text file, or 'nietzsche' (downloaded and cached); default: the shipped offline text."),
    kind: str = typer.Option("seq", help="char3, loop, concat, rnn (nn.RNN) or seq (every next character at once)."),
    epochs: int = typer.Option(2, help="Passes over the training text."),
    out_file: Path = typer.Option(Path("char_rnn.pt"), "--out", help="Where the trained model (weights, vocabulary, config) is saved."),
    max_chars: Optional[int] = typer.Option(None, help="Use only the first N characters of the text."),
    n_hidden: int = typer.Option(256, help="Hidden units."),
    n_fac: int = typer.Option(42, help="Embedding size."),
    identity_init: bool = typer.Option(True, help="Start the hidden-to-hidden weights at the identity matrix."),
    threads: Optional[int] = typer.Option(None, help="CPU threads for torch (1 is often fastest on a busy machine)."),
    seed: int = typer.Option(0, help="Seed of the initial weights and the batch order."),
):
    """Train a char-RNN on a text and save it; prints the loss per epoch.

    The last 10% of the text is held out for the validation loss.
    """
    from xlbridge.download import fetch
    from xlbridge.text_training import train_text_model

    try:
        if threads is not None:
            import torch

            torch.set_num_threads(params.check(threads, params.Interval(int, 1, 1024), "--threads"))
        if not out_file.parent.is_dir():  # find out now, not after the whole training run
            raise XlbridgeInputError(f"{out_file}: the folder {out_file.parent} does not exist")
        path = fetch("nietzsche") if text == "nietzsche" else text
        history = train_text_model(path, kind=kind, epochs=epochs, out=out_file, max_chars=max_chars, n_hidden=n_hidden,
                                   n_fac=n_fac, identity_init=identity_init, seed=seed, progress=sys.stderr.isatty())
    except XlbridgeInputError as e:
        _fail(e)
    table = Table(title=f"{kind} on {text or 'the offline default text'}")
    for col in ("epoch", "train loss", "valid loss", "chars/s"):
        table.add_column(col, justify="right")
    for row in history:
        table.add_row(str(row.epoch), f"{row.train_loss:.4f}", f"{row.valid_loss:.4f}", f"{row.rows_per_s:,.0f}")
    out.print(table)
    out.print(f"saved {out_file}")


@app.command()
def generate(
    model: Path = typer.Argument(..., help="A model saved by 'xlbridge train'."),
    seed_text: str = typer.Argument(..., help="The text to continue (at least the model's context length)."),
    n: int = typer.Option(200, help="Characters to generate."),
    temperature: float = typer.Option(0.0, help="0 = always the most likely character; > 0 samples."),
    seed: int = typer.Option(0, help="Seed for sampling."),
):
    """Continue SEED_TEXT with N characters from a trained char-RNN."""
    from xlbridge.text_training import generate_text

    try:
        if not model.is_file():
            raise XlbridgeInputError(f"{model}: no such model file")
        out.print(generate_text(model, seed_text, n, temperature=temperature, seed=seed), markup=False, highlight=False)
    except XlbridgeInputError as e:
        _fail(e)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
