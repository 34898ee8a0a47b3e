"""The `xlbridge` command: thin typer commands over library functions.

Exit codes: 0 success, 1 a run that completed with a negative answer (parity mismatch),
2 bad input or usage (one line on stderr, no traceback).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import unicodedata
import warnings
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from xlbridge.errors import XlbridgeInputError, XlbridgeWarning
from xlbridge import params
from xlbridge.files import prepare_folder, recorded_path, written_state

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Course workbooks with live formulas, proven equal to PyTorch models.")
out = Console()
err = Console(stderr=True)


def _one_line(text: str) -> str:
    """A message as one line of plain text: a control character or a line break from a path or
    a field is shown escaped (\\x01, \\n), never sent to the terminal."""
    return "".join(repr(c)[1:-1] if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)


def _fail(e: Exception) -> None:
    err.print(f"xlbridge: error: {_one_line(str(e))}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code=getattr(e, "exit_code", 2))


def _warn(caught) -> None:
    """Print the XlbridgeWarnings a command raised, one line each; others as Python shows them."""
    for w in caught:
        if issubclass(w.category, XlbridgeWarning):
            err.print(f"xlbridge: warning: {_one_line(str(w.message))}", markup=False, highlight=False, soft_wrap=True)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _refused(e: OSError, where) -> XlbridgeInputError:
    """What the file system refused (a name too long, a disk full), as bad input naming the file."""
    return XlbridgeInputError(f"{e.filename2 or e.filename or where}: {e.strerror or type(e).__name__}")


@contextmanager
def _one_line_errors(folder: Path | None = None):
    """Around a command: its XlbridgeWarnings printed one line each, then bad input, or what the
    file system refused (a name too long, a disk full), as one line and exit 2."""
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", XlbridgeWarning)
        try:
            yield
        except XlbridgeInputError as e:
            error = e
        except OSError as e:
            error = _refused(e, folder or ".")
        finally:
            _warn(caught)
    if error is not None:
        _fail(error)


def _guard_overwrite(path: Path, force: bool) -> None:
    """Refuse to replace a file the user owns: anything whose bytes are not exactly what xlbridge
    last wrote there (xlbridge.files.written_state), a changed style or comment included."""
    if force or not os.path.lexists(path):
        return
    if path.is_dir():
        raise XlbridgeInputError(f"{path}: is a folder, not a workbook file")
    state = written_state(path)
    if state == "foreign":
        raise XlbridgeInputError(f"{path}: exists and was not written by xlbridge; pass --force to overwrite it")
    if state == "changed":
        raise XlbridgeInputError(f"{path}: was edited since xlbridge built it; pass --force to overwrite it")


def report(results, engine: str, *, verbose: bool = False, seconds: float | None = None) -> bool:
    """Print the parity report (xlbridge/report.py); True when every quantity is within tolerance."""
    from xlbridge.report import text_lines

    for line in text_lines(results, engine, verbose):  # a file or sheet name never breaks a line
        out.print(_one_line(line), markup=False, highlight=False, soft_wrap=True)
    if seconds is not None:
        out.print(f"{engine}: {len(results)} workbook(s) recalculated and compared in {seconds:.1f} s",
                  markup=False, highlight=False)
    return all(r.passed for r in results)


def _start_engine(engine: str = "libreoffice") -> None:
    from xlbridge.engine import start

    start(engine)


def run_checks(paths: list[Path], device: str = "cpu", show_coverage: bool = False, *, engine: str = "libreoffice",
               verbose: bool = False, as_json: bool = False, timeout: float | None = None) -> bool:
    """Recalculate the workbooks in one engine run and compare them with the models; print the report."""
    from xlbridge import engine as engines

    engine = params.check(engine, params.OneOf(tuple(engines.ENGINES)), "--engine")
    timeout = engines.TIMEOUT_S if timeout is None else params.check(timeout, params.POSITIVE, "--timeout")
    t = time.perf_counter()
    _start_engine(engine)  # it boots while the files are checked and torch is imported
    books = engines.submit(paths, engine=engine, timeout=timeout)
    return compare_books(paths, books, device, show_coverage, engine=engine, verbose=verbose, as_json=as_json,
                         started=t)


def compare_books(paths: list[Path], books: list, device: str = "cpu", show_coverage: bool = False, *,
                  engine: str = "libreoffice", verbose: bool = False, as_json: bool = False,
                  started: float | None = None) -> bool:
    """Compare workbooks handed to the engine (xlbridge.engine.submit) with the models; print the report."""
    from xlbridge import engine as engines
    from xlbridge.parity import check_book
    from xlbridge.report import Checked, json_document

    t = time.perf_counter() if started is None else started
    try:
        on = prepare_models(books, device)  # torch is imported while the engine works
        results = [Checked(p, b.kind, check_book(b, on)) for p, b in zip(paths, books)]
    finally:
        for b in books:
            b.cancel()
    seconds = time.perf_counter() - t
    if as_json:
        from xlbridge.coverage import coverage

        covered = {r.path: coverage(r.path, r.comparisons) for r in results} if show_coverage else None
        print(json_document(results, engines.ENGINES[engine], seconds, covered))
        return all(r.passed for r in results)
    ok = report(results, engines.ENGINES[engine], verbose=verbose, seconds=seconds)
    if show_coverage:
        print_coverage({r.path: r.comparisons for r in results})
    return ok


def prepare_models(books: list, device: str = "cpu"):
    """Import torch and the books' checkers (a foreign file fails here); the torch device to run them on."""
    from xlbridge.workbooks import registry_entry

    on = _device(device)
    for b in books:
        registry_entry(b.kind, b.source).checker()
    return on


def print_coverage(results_by_path: dict) -> None:
    """Per sheet: formula cells, compared with the models, labels checked, unchecked."""
    from xlbridge.coverage import coverage

    table = Table(title="Coverage: every formula cell compared or checked")
    for col in ("workbook", "sheet", "formulas", "compared", "labels", "unchecked"):
        table.add_column(col, justify="left" if col in ("workbook", "sheet") else "right")
    for path, results in results_by_path.items():
        for sc in coverage(path, results):
            table.add_row(path.name, sc.sheet, str(sc.formulas), str(sc.compared), str(sc.labels),
                          str(sc.n_unchecked) if not sc.n_unchecked else f"[red]{sc.n_unchecked}[/red]")
    out.print(table)


def _device(name: str):
    """The torch device parity runs the models on: cpu by default, float64 on any of them."""
    from xlbridge.models.device import pick_device

    try:
        return pick_device(params.check(name, params.OneOf(("auto", "cpu", "cuda")), "--device"))
    except ValueError as e:
        raise XlbridgeInputError(f"--device: {e}") from None


@app.command()
def build(
    out_dir: Path = typer.Option(Path("workbooks"), "--out", help="Folder the workbooks are written to."),
    ratings: Optional[Path] = typer.Option(None, help="A MovieLens ratings file or folder (ml-latest-small or ml-100k layout)."),
    dataset: Optional[str] = typer.Option(None, help="A dataset to download and cache: ml-latest-small or ml-100k."),
    users: int = typer.Option(15, help="Users in the crosstab (the most active)."),
    movies: int = typer.Option(15, help="Movies in the crosstab (the most rated)."),
    factors: int = typer.Option(5, help="Latent factors per user and movie."),
    seed: int = typer.Option(42, help="Seed of the parameters' start values."),
    epochs: Optional[int] = typer.Option(None, help="Epochs unrolled down each optimizer sheet of graddesc.xlsx (default: GraddescConfig's)."),
    hparam: list[str] = typer.Option([], help="A graddesc hyperparameter, OPTIMIZER.NAME=VALUE (e.g. adam.lr=0.1); repeatable."),
    model: Optional[Path] = typer.Option(None, "--model", help="A model saved by 'xlbridge fit': write its learned parameters into the collab workbook (MODEL.xlsx in --out)."),
    check: bool = typer.Option(False, "--check", help="Recalculate the built workbooks in LibreOffice and print the parity report."),
    device: str = typer.Option("cpu", help="Where parity runs the models: cpu, cuda or auto."),
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

    with _one_line_errors(out_dir):
        if ratings and dataset:
            raise XlbridgeInputError("give --ratings or --dataset, not both")
        real = ratings is not None or dataset is not None
        if (real or model is not None) and (epochs is not None or hparam):
            raise XlbridgeInputError("--epochs and --hparam set graddesc.xlsx, which --ratings/--dataset/--model do not build")
        if out_dir.exists() and not out_dir.is_dir():
            raise XlbridgeInputError(f"{out_dir}: --out must be a folder; this is a file")
        trained = None
        if model is not None:
            from xlbridge.collab_training import load_collab_model

            trained = load_collab_model(model)
            if not (ratings or dataset):   # the ratings it was trained on, where they still are
                recorded = Path(trained.meta.get("source", ""))
                if not recorded.is_file():
                    raise XlbridgeInputError(f"{model}: its ratings ({recorded}) are not there; give --ratings or --dataset")
                ratings = recorded
        data = load_ratings(ratings) if ratings else load_ratings(fetch(dataset)) if dataset else synthetic_ratings()
        collab = CollabConfig(n_users=users, n_movies=movies, n_factors=factors, seed=seed).validate()
        crosstab(data, users, movies)  # enough users and movies? (fails before any file is written)
        graddesc = GraddescConfig(hparams=_parse_hparams(hparam), **({} if epochs is None else {"epochs": epochs}))
        check_config(graddesc)
        builders = {"collab": lambda p: build_collab(data, p, collab, trained),
                    "graddesc": lambda p: build_graddesc(p, graddesc)}
        # real ratings only change the collaborative-filtering workbook
        specs = [s for s in WORKBOOKS if not (real or trained) or s.kind == "collab"]
        targets = [out_dir / (f"{model.stem}.xlsx" if trained else s.filename) for s in specs]
        for target in targets:
            _guard_overwrite(target, force)
        prepare_folder(out_dir)
        jobs = [(builders.get(spec.kind, spec.build_default), target) for spec, target in zip(specs, targets)]
        if not _build_all(jobs, check, device):
            raise typer.Exit(code=1)


def _build_all(jobs: list, check: bool, device: str) -> bool:
    """Build each (builder, target); with `check`, hand each to LibreOffice as soon as it is
    written and print the parity report. The last, largest workbook (graddesc's unrolled steps)
    is built in a forked child while this process builds the others, then imports torch."""
    from xlbridge.forked import Forked

    t0, n = time.perf_counter(), len(jobs)
    books: dict[Path, object] = {}
    first_submitted = None   # the report times the engine's work from here

    def built(target: Path, t: float) -> None:
        nonlocal first_submitted
        out.print(_one_line(f"built {target} in {time.perf_counter() - t:.1f} s"), markup=False, highlight=False,
                  soft_wrap=True)
        if check:
            from xlbridge import engine as engines

            first_submitted = first_submitted or time.perf_counter()
            books[target] = engines.submit([target])[0]

    with ExitStack() as stack:
        forked = None
        if len(jobs) > 1:
            (build_last, last), jobs = jobs[-1], jobs[:-1]
            last_tmp = stack.enter_context(recorded_path(last))   # atomic, and its bytes recorded as xlbridge's
            t_last = time.perf_counter()
            forked = Forked(build_last, last_tmp)   # before LibreOffice starts: a fork copies no threads
            stack.callback(forked.cancel)
        if check:
            _start_engine()  # LibreOffice boots while the workbooks are built
        for build_one, target in jobs:
            t = time.perf_counter()
            with recorded_path(target) as tmp:
                build_one(tmp)
            built(target, t)
        if check:
            prepare_models(list(books.values()), device)   # imports torch while the last one is built
        if forked is not None:
            forked.result()
            stack.close()   # the last workbook is renamed into place and recorded
            built(last, t_last)
    out.print(f"{n} workbook(s) built in {time.perf_counter() - t0:.1f} s")
    return not check or compare_books(list(books), list(books.values()), device, started=first_submitted)


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
def check(
    workbooks: list[Path] = typer.Argument(..., help="Workbooks written by 'xlbridge build'."),
    engine: str = typer.Option("libreoffice", help="The spreadsheet engine that recalculates: libreoffice or gnumeric."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Every quantity of every sheet, not one line per sheet."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document with every comparison (for scripts)."),
    timeout: Optional[float] = typer.Option(None, help="Seconds the engine may spend on one workbook (default 120)."),
    device: str = typer.Option("cpu", help="Where the models run: cpu, cuda or auto (float64 on any)."),
    show_coverage: bool = typer.Option(False, "--coverage", help="Also print, per sheet, how many formula cells are compared, checked as labels, or unchecked."),
):
    """Recalculate workbooks in a real spreadsheet engine and compare every checked cell with PyTorch.

    Prints one line per sheet. Exits 1 when any quantity differs by more than its tolerance
    (1e-9, float64), 2 when a file is not a sound workbook (nothing is compared then).
    """
    with _one_line_errors():
        if not run_checks(workbooks, device, show_coverage, engine=engine, verbose=verbose, as_json=as_json,
                          timeout=timeout):
            raise typer.Exit(code=1)


@app.command()
def download(
    name: str = typer.Argument(..., help="ml-latest-small, ml-100k or nietzsche."),
    url: Optional[str] = typer.Option(None, help="Download from this address instead (a mirror)."),
    refresh: bool = typer.Option(False, help="Download again even when a verified copy is cached."),
):
    """Download a dataset into the cache, verify its checksums, print where it is."""
    from xlbridge.download import fetch

    with _one_line_errors():
        out.print(str(fetch(name, url, refresh=refresh, progress=sys.stderr.isatty())))


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

    with _one_line_errors():
        code = solve_command(workbook, sheet=sheet, list_only=list_only, out=out_path, in_place=in_place,
                             force=force, max_time=max_time, check=check, console=out)
    raise typer.Exit(code=code)


def _ratings(ratings: Optional[Path], dataset: Optional[str]):
    """The ratings a command was pointed at: a file or folder, or a dataset from the cache."""
    from xlbridge.data import load_ratings
    from xlbridge.download import fetch

    if ratings and dataset:
        raise XlbridgeInputError("give a ratings path or --dataset, not both")
    if not (ratings or dataset):
        raise XlbridgeInputError("give a ratings file or folder, or --dataset ml-100k / ml-latest-small")
    return load_ratings(ratings if ratings else fetch(dataset, progress=sys.stderr.isatty()))


@app.command()
def fit(
    ratings: Optional[Path] = typer.Argument(None, help="A MovieLens ratings file or folder: ml-latest-small, ml-100k, ml-25m or ml-32m layout."),
    dataset: Optional[str] = typer.Option(None, help="A dataset to download and cache instead: ml-latest-small or ml-100k."),
    model: str = typer.Option("DotProductBias", help="DotProduct, DotProductBias, CollabNN, EmbeddingNN, or the older lesson's EmbeddingDotBias, EmbeddingNet."),
    preset: str = typer.Option("course", help="course (the lesson's settings), fast or best (ours, tuned on ml-100k)."),
    epochs: Optional[int] = typer.Option(None, help="Passes over the training ratings (default: the model's recipe)."),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate of the one-cycle schedule (default: the recipe's)."),
    wd: Optional[float] = typer.Option(None, help="Weight decay (default: the recipe's; AdamW's decoupled decay)."),
    bs: int = typer.Option(64, help="Ratings per batch (fastai's default 64)."),
    factors: Optional[int] = typer.Option(None, help="Latent factors per user and movie (default 50)."),
    valid_pct: float = typer.Option(0.2, "--valid-pct", help="Share of the ratings held out for validation."),
    seed: int = typer.Option(42, help="Seed of the split, the start weights and the batch order (fastai's RandomSplitter(0.2, seed=42) by default)."),
    by_title: bool = typer.Option(False, "--by-title", help="Key movies by title, as the fastai book does."),
    device: str = typer.Option("auto", help="auto (CUDA when available), cpu or cuda."),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads (default 1: fastest for these small steps on a busy machine)."),
    out_file: Path = typer.Option(Path("collab_model.pt"), "--out", help="Where the trained model is saved."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar and no per-epoch table; only the result line."),
):
    """Train a collaborative-filtering model on MovieLens and save it.

    Prints, after every epoch, the line fastai prints (epoch, train_loss, valid_loss, time), then
    the validation MSE. Deterministic on the CPU for a given --seed.
    """
    from xlbridge.collab_training import FitConfig, fit_collab

    with _one_line_errors():
        config = FitConfig(model=model, preset=preset, epochs=epochs, lr=lr, wd=wd, bs=bs, factors=factors,
                           valid_pct=valid_pct, seed=seed, item="title" if by_title else "movieId", device=device,
                           threads=threads).validate()
        if out_file.is_dir() or not out_file.parent.is_dir():
            raise XlbridgeInputError(f"{out_file}: --out must be a file in an existing folder")
        data = _ratings(ratings, dataset)
        r = data.ratings
        c = config.resolved()
        if not quiet:
            out.print(f"data: {data.source}: {len(r):,} ratings, {r.userId.nunique():,} users, "
                      f"{r.movieId.nunique():,} movies", markup=False, highlight=False, soft_wrap=True)
            out.print(f"model: {c.model}; {c.optimizer} {c.schedule.replace('_', '-')} lr {c.lr:g}, wd {c.wd:g}, "
                      f"{c.epochs} epochs, bs {c.bs}; split {c.split} valid_pct {c.valid_pct:g} seed {c.seed}",
                      markup=False, highlight=False, soft_wrap=True)
            out.print(f"{'epoch':>5}  {'train_loss':>10}  {'valid_loss':>10}  {'time':>7}", markup=False, soft_wrap=True)

        def row(e):
            if not quiet:
                out.print(f"{e.epoch - 1:>5}  {e.train_loss:>10.6f}  {e.valid_loss:>10.6f}  "
                          f"{int(e.seconds // 60):02d}:{e.seconds % 60:04.1f}", markup=False, highlight=False, soft_wrap=True)

        result = fit_collab(data, config, out_file, progress=not quiet and sys.stderr.isatty(), on_epoch=row)
    out.print(f"valid MSE {result.valid_mse:.4f} (RMSE {result.valid_mse ** 0.5:.4f}) after {result.seconds:.1f} s of "
              f"training on {result.device} with {result.threads} torch thread(s); saved {result.path}",
              markup=False, highlight=False, soft_wrap=True)


@app.command()
def interpret(
    model: Path = typer.Argument(..., help="A model saved by 'xlbridge fit'."),
    min_ratings: int = typer.Option(20, "--min-ratings", help="Rank the biases of movies with at least this many training ratings."),
    top: int = typer.Option(15, help="Movies in each bias table."),
    png: Optional[Path] = typer.Option(None, help="Write the PCA scatter of the most rated movies to this PNG file."),
    xlsx: Optional[Path] = typer.Option(None, help="Write the tables and the chart as sheets of this workbook."),
):
    """Read a trained model as the lesson does: movie biases, and PCA of the movie factors."""
    from xlbridge.collab_training import load_collab_model
    from xlbridge.interpret import interpret as run_interpret, scatter_png, write_xlsx

    with _one_line_errors():
        min_ratings = params.check(min_ratings, params.Interval(int, 0), "--min-ratings")
        top = params.check(top, params.Interval(int, 1, 1000), "--top")
        for target in (png, xlsx):
            if target is not None and (target.is_dir() or not target.parent.is_dir()):
                raise XlbridgeInputError(f"{target}: must be a file in an existing folder")
        result = run_interpret(load_collab_model(model), min_ratings=min_ratings, top=top)
    if result.bias_lowest is None:
        out.print(f"{result.model_name} has no movie bias: no bias ranking", markup=False)
    else:
        for name, df in (("lowest", result.bias_lowest), ("highest", result.bias_highest)):
            table = Table(title=f"{name} movie bias (movies with >= {min_ratings} training ratings)", title_justify="left")
            for col in ("title", "bias", "ratings"):
                table.add_column(col, justify="left" if col == "title" else "right")
            for r in df.itertuples():
                table.add_row(r.title, f"{r.bias:.3f}", str(r.ratings))
            out.print(table)
    out.print(f"PCA reading: {result.reading}.", markup=False, highlight=False, soft_wrap=True)
    out.print("explained variance: " + ", ".join(f"pc{j + 1} {v:.1%}" for j, v in enumerate(result.pca.explained)),
              markup=False)
    for j, (low, high) in result.ends.items():
        out.print(f"pc{j} lowest: {'; '.join(low[:5])}", markup=False, highlight=False, soft_wrap=True)
        out.print(f"pc{j} highest: {'; '.join(high[:5])}", markup=False, highlight=False, soft_wrap=True)
    written = []
    if png is not None or xlsx is not None:
        import tempfile

        try:        # a name the file system refuses, a full disk: one line, exit 2
            with tempfile.TemporaryDirectory() as tmp:
                chart = scatter_png(result, png if png is not None else Path(tmp) / "pca.png")
                written += [png] if png is not None else []
                if xlsx is not None:
                    written.append(write_xlsx(result, xlsx, chart))
        except OSError as e:
            _fail(_refused(e, png or xlsx))
    for path in written:
        out.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)


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
    threads: int = typer.Option(1, help="CPU threads for torch (1 is often fastest on a busy machine)."),
    seed: int = typer.Option(0, help="Seed of the initial weights and the batch order."),
):
    """Train a char-RNN on a text and save it; prints the loss per epoch.

    The last 10% of the text is held out for the validation loss.
    """
    from xlbridge.download import fetch
    from xlbridge.text_training import train_text_model

    with _one_line_errors():
        threads = params.check(threads, params.Interval(int, 1, 1024), "--threads")
        if out_file.is_dir():                  # find out now, not after the whole training run
            raise XlbridgeInputError(f"{out_file}: --out must be a file, not a folder")
        if not out_file.parent.is_dir():
            raise XlbridgeInputError(f"{out_file}: the folder {out_file.parent} does not exist")
        path = fetch("nietzsche") if text == "nietzsche" else text
        history = train_text_model(path, kind=kind, epochs=epochs, out=out_file, max_chars=max_chars, n_hidden=n_hidden,
                                   n_fac=n_fac, identity_init=identity_init, seed=seed, progress=sys.stderr.isatty(),
                                   threads=threads)
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

    with _one_line_errors():
        if not model.is_file():
            raise XlbridgeInputError(f"{model}: no such model file")
        out.print(generate_text(model, seed_text, n, temperature=temperature, seed=seed), markup=False, highlight=False, soft_wrap=True)


def main() -> None:
    """The `xlbridge` command. Once the command is done, the process ends at once: the
    interpreter's own teardown of torch's modules adds 1-2 s on a small machine to every
    command that used it, and there is nothing left for it to do (threads joined, exit
    handlers run, output flushed first)."""
    try:
        app()
        code = 0
    except SystemExit as e:
        code = e.code
    if isinstance(code, str):           # sys.exit("message"): printed, exit 1, as Python does
        print(code, file=sys.stderr)
        code = 1
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):    # a closed pipe (`xlbridge ... | head`)
            pass
    os._exit(code or 0)


if __name__ == "__main__":
    main()
