"""Read a trained collaborative filter the way the lesson does: `xlbridge interpret MODEL`.

1. The movie biases. A movie's bias is the part of its rating no taste explains: among movies
   with enough ratings, the lowest are those people dislike even when they like the genre, the
   highest those they like even when it is not their kind of film.
2. PCA of the movie factors: three directions that spread the movies most, the movies at both
   ends of each, and a scatter of the most rated movies on the first two.

Which PCA. The movies are the samples: each factor is centred over the movies, the components
are directions in factor space and a movie's coordinates are its projection on them (fastai's
`Tensor.pca`, scikit-learn's `PCA(3).fit(factors).transform(factors)`). The older lesson fitted
`PCA(3)` to the transposed matrix and read `components_` as the movies' coordinates: that centres
each movie over the factors instead, and gives unit-length coordinates. Through the SVD of the
factor matrix the two are one computation: for a matrix centred both ways they agree up to the
sign and the scale (the singular value) of each component (tests/test_interpret.py shows it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xlbridge.collab_training import SavedModel
from xlbridge.errors import XlbridgeInputError

PCA_READING = ("PCA fitted on the movie factors (movies as samples, each factor centred over the movies); "
               "coordinates = projection on the components, as fastai's Tensor.pca and sklearn's fit(X).transform(X)")


@dataclass(frozen=True)
class Pca:
    """Principal components of a (movies x factors) matrix, movies as the samples."""

    scores: np.ndarray        # (M, k): each movie's coordinates, U[:, :k] * S[:k]
    components: np.ndarray    # (k, K): unit directions in factor space, signed so the largest entry is positive
    explained: np.ndarray     # (k,): share of the variance each component explains


def pca(factors: np.ndarray, k: int = 3) -> Pca:
    """PCA of `factors` (M x K) with the movies as samples: centre each factor, then the SVD."""
    x = np.asarray(factors, dtype=np.float64)
    x = x - x.mean(axis=0)                                      # centre each factor over the movies
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    k = min(k, len(s))
    sign = np.sign(vt[np.arange(k), np.abs(vt[:k]).argmax(axis=1)])   # a deterministic orientation
    sign[sign == 0] = 1
    return Pca(scores=u[:, :k] * s[:k] * sign, components=vt[:k] * sign[:, None],
               explained=s[:k] ** 2 / max(float((s ** 2).sum()), 1e-300))


def pca_transposed(factors: np.ndarray, k: int = 3) -> np.ndarray:
    """The older lesson's reading: PCA(k).fit(factors.T).components_.T, i.e. each movie centred
    over the factors, and the right singular vectors of that as (M, k) unit-length coordinates."""
    t = np.asarray(factors, dtype=np.float64).T                 # (K, M): factors as samples
    t = t - t.mean(axis=0)
    _, _, vt = np.linalg.svd(t, full_matrices=False)
    return vt[:k].T


@dataclass
class Interpretation:
    """What `interpret` finds; tables are DataFrames with a title column."""

    model_name: str
    bias_lowest: pd.DataFrame | None    # title, bias, ratings (None: the model has no movie bias)
    bias_highest: pd.DataFrame | None
    min_ratings: int
    pca: Pca
    pca_movies: pd.DataFrame            # title, ratings, pc1, pc2, pc3 for the movies PCA was fitted on
    ends: dict                          # component number -> (lowest titles, highest titles)
    reading: str = PCA_READING


def _movie_bias(model) -> np.ndarray | None:
    layer = getattr(model, "movie_bias", None)
    return None if layer is None else layer.weight.detach().cpu().double().numpy().ravel()


def interpret(saved: SavedModel, *, min_ratings: int = 20, top: int = 15, n_pca: int = 1000, n_ends: int = 10) -> Interpretation:
    """The lesson's reading of a trained model (see the module docstring). Biases are ranked among
    the movies with at least `min_ratings` training ratings; PCA is fitted on the `n_pca` most
    rated movies, as the fastai book does."""
    counts = np.asarray(saved.train_counts)
    titles = np.asarray(saved.titles, dtype=object)
    known = np.array([m is not None for m in saved.movies])     # leave out the unknown slot
    bias = _movie_bias(saved.model)
    low = high = None
    if bias is not None:
        eligible = np.flatnonzero(known & (counts >= min_ratings))
        if eligible.size == 0:
            raise XlbridgeInputError(f"no movie has {min_ratings} or more training ratings; lower --min-ratings")
        order = eligible[np.argsort(bias[eligible], kind="stable")]
        table = lambda idx: pd.DataFrame({"title": titles[idx], "bias": bias[idx], "ratings": counts[idx]})  # noqa: E731
        low, high = table(order[:top]), table(order[::-1][:top])
    factors = saved.model.movie_factors.weight.detach().cpu().double().numpy()
    rated = np.flatnonzero(known & (counts > 0))
    chosen = rated[np.argsort(-counts[rated], kind="stable")][:n_pca]      # the most rated movies
    if chosen.size < 2:
        raise XlbridgeInputError("PCA needs at least two rated movies")
    p = pca(factors[chosen])
    movies = pd.DataFrame({"title": titles[chosen], "ratings": counts[chosen],
                           **{f"pc{j + 1}": p.scores[:, j] for j in range(p.scores.shape[1])}})
    ends = {}
    for j in range(p.scores.shape[1]):
        order = np.argsort(p.scores[:, j], kind="stable")
        ends[j + 1] = (list(titles[chosen][order[:n_ends]]), list(titles[chosen][order[::-1][:n_ends]]))
    return Interpretation(type(saved.model).__name__, low, high, min_ratings, p, movies, ends)


def scatter_png(result: Interpretation, path, n: int = 50) -> Path:
    """The `n` most rated movies on the first two components, each labelled with its title."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure   # no pyplot: no backend chosen, a notebook's plots untouched

    from xlbridge.files import atomic_path

    top = result.pca_movies.head(n)
    fig = Figure(figsize=(12, 12), dpi=80)
    ax = fig.subplots()
    ax.scatter(top["pc1"], top["pc2"], s=12, color="#c0504d")
    palette = colormaps["tab10"]
    for i, row in enumerate(top.itertuples()):
        ax.annotate(row.title, (row.pc1, row.pc2), fontsize=9, color=palette(i % 10), xytext=(3, 3),
                    textcoords="offset points", parse_math=False)   # a title with two '$' is text, not TeX
    share = result.pca.explained
    ax.set_xlabel(f"component 1 ({share[0]:.0%} of the variance)")
    ax.set_ylabel(f"component 2 ({share[1]:.0%} of the variance)" if len(share) > 1 else "component 2")
    ax.set_title(f"{result.model_name}: the {len(top)} most rated movies on the first two principal components")
    ax.axhline(0, color="#bbbbbb", lw=0.8)
    ax.axvline(0, color="#bbbbbb", lw=0.8)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    return path


def write_xlsx(result: Interpretation, path, png: Path | None = None) -> Path:
    """The bias tables, the PCA tables and the scatter as sheets of a workbook."""
    from openpyxl import Workbook
    from openpyxl.drawing.image import Image

    from xlbridge.styles import header, intro_sheet, label, paint, widths
    from xlbridge.xlsx import save_atomic, set_text

    wb = Workbook()
    wb.remove(wb.active)
    intro_sheet(wb, f"Interpreting a trained {result.model_name}", [
        ("movie bias", f"The {len(result.bias_lowest) if result.bias_lowest is not None else 0} lowest and highest "
                       f"movie biases among movies with at least {result.min_ratings} training ratings: the rating "
                       "a movie gets whatever the viewer's taste." if result.bias_lowest is not None
                       else "This model has no movie bias."),
        ("pca", result.reading + f". Explained variance: {', '.join(f'{v:.1%}' for v in result.pca.explained)}."),
        ("chart", "The most rated movies on the first two components."),
    ])

    def table(ws, r0, c0, df, title):
        label(ws.cell(r0, c0), title)
        for j, col in enumerate(df.columns):
            set_text(ws.cell(r0 + 1, c0 + j), col)
        header(ws, f"{ws.cell(r0 + 1, c0).coordinate}:{ws.cell(r0 + 1, c0 + len(df.columns) - 1).coordinate}")
        for i, row in enumerate(df.itertuples(index=False)):
            for j, v in enumerate(row):
                cell = ws.cell(r0 + 2 + i, c0 + j)
                if isinstance(v, str):
                    set_text(cell, v)         # titles are data, never formulas
                else:
                    cell.value = float(v)
        if len(df):
            paint(ws, f"{ws.cell(r0 + 2, c0).coordinate}:{ws.cell(r0 + 1 + len(df), c0 + len(df.columns) - 1).coordinate}",
                  "output", "0.000")

    if result.bias_lowest is not None:
        ws = wb.create_sheet("movie bias")
        table(ws, 1, 1, result.bias_lowest, "lowest movie bias")
        table(ws, 1, 5, result.bias_highest, "highest movie bias")
        widths(ws, {"A": 45, "E": 45})
    ws = wb.create_sheet("pca")
    ends = pd.DataFrame({f"pc{j} {side}": titles for j, (low, high) in result.ends.items()
                         for side, titles in (("lowest", low), ("highest", high))})
    table(ws, 1, 1, ends, "the movies at both ends of each component")
    table(ws, len(ends) + 5, 1, result.pca_movies, "coordinates of the movies PCA was fitted on")
    widths(ws, {chr(65 + j): 30 for j in range(len(ends.columns))})
    if png is not None:
        ws = wb.create_sheet("chart")
        ws.add_image(Image(str(png)), "A1")
    return save_atomic(wb, path)
