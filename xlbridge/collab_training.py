"""Train the collaborative-filtering lesson's models at full scale: `xlbridge fit` as a function.

    result = fit_collab(load_ratings("ml-100k/"), FitConfig(model="DotProductBias"), out="model.pt")

Every model of the lesson, under its class name, with the settings the lesson trained it with
(its recipe): the fastai book's one-cycle AdamW for DotProduct, DotProductBias, CollabNN and
EmbeddingNN, and the older lesson's SGD with momentum and Adam for EmbeddingDotBias and
EmbeddingNet. Any setting given explicitly replaces the recipe's. Presets trade the lesson's
settings for speed ("fast") or accuracy ("best"), see PRESETS.

The data goes through xlbridge/collab_data.py (ids numbered, the split), the model through
models/training.py's loop; the result is saved by models/checkpoint.py with everything needed
to use it again: the ids behind every index, the titles, how many training ratings each movie
had, the split, the settings and the history of every epoch.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, ClassVar

from xlbridge.collab_data import ITEMS, SPLITS, CollabData, prepare
from xlbridge.data import Ratings
from xlbridge.errors import XlbridgeInputError
from xlbridge.files import atomic_path
from xlbridge.params import FRACTION_OPEN, NON_NEGATIVE, POSITIVE, SEED, Interval, OneOf, check, validate
from xlbridge.xlsx import fit_text

FORMAT = "xlbridge-collab/1"

# The lesson's models (models/collab.py, models/collab_nn.py), and how each was trained there.
# "older" marks the 2018 lesson (fastai 0.7): its split rule and its y_range from the ratings.
RECIPES: dict[str, dict] = {
    # fastbook ch. 8: Learner(dls, DotProduct(n_users, n_movies, 50)).fit_one_cycle(5, 5e-3), fastai's default wd
    "DotProduct": dict(factors=50, epochs=5, lr=5e-3, wd=0.01, optimizer="adamw", schedule="one_cycle"),
    # fastbook ch. 8: DotProductBias(n_users, n_movies, 50), fit_one_cycle(5, 5e-3, wd=0.1); also collab_learner's model
    "DotProductBias": dict(factors=50, epochs=5, lr=5e-3, wd=0.1, optimizer="adamw", schedule="one_cycle"),
    # fastbook ch. 8: CollabNN(*get_emb_sz(dls)), fit_one_cycle(5, 5e-3, wd=0.01)
    "CollabNN": dict(epochs=5, lr=5e-3, wd=0.01, optimizer="adamw", schedule="one_cycle"),
    # fastbook ch. 8: collab_learner(dls, use_nn=True, layers=[100, 50]), fit_one_cycle(5, 5e-3, wd=0.1)
    "EmbeddingNN": dict(epochs=5, lr=5e-3, wd=0.1, optimizer="adamw", schedule="one_cycle"),
    # lesson 5 (2018): optim.SGD(lr=1e-1, weight_decay=2e-4, momentum=0.9), fit 3 epochs, set_lrs(1e-2), fit 3 more
    "EmbeddingDotBias": dict(factors=50, epochs=6, lr=0.1, wd=2e-4, optimizer="sgd", schedule="step",
                             split="random-2018", older=True),
    # lesson 5 (2018): optim.Adam(lr=1e-3, weight_decay=1e-5), fit 3 epochs, set_lrs(1e-3), fit 3 more
    "EmbeddingNet": dict(factors=50, epochs=6, lr=1e-3, wd=1e-5, optimizer="adam", schedule="constant",
                         split="random-2018", older=True),
}
MODELS = tuple(RECIPES)
OPTIMIZERS = ("adamw", "sgd", "adam")
SCHEDULES = ("one_cycle", "step", "constant")


@dataclass(frozen=True)
class FitConfig:
    """What to train and how. None means: the model's recipe decides (RECIPES, PRESETS)."""

    model: str = "DotProductBias"
    factors: int | None = None        # latent factors (dot models, EmbeddingNet); CollabNN/EmbeddingNN size by rule
    epochs: int | None = None
    lr: float | None = None           # the maximum of the one-cycle schedule, or the constant / first lr
    wd: float | None = None           # AdamW's decoupled decay; L2 for the older lesson's SGD and Adam
    bs: int = 64                      # fastai's default batch size
    optimizer: str | None = None
    schedule: str | None = None
    layers: tuple[int, ...] = (100, 50)   # EmbeddingNN's hidden sizes (fastai's collab_learner(layers=...))
    members: int = 1                  # DotProductBias only: train this many side by side and average them
    y_range: tuple[float, float] | None = None   # None: (0, 5.5) as the book; the older lesson's from the ratings
    valid_pct: float = 0.2
    seed: int = 42                    # the split, the start weights and the batch order
    split: str | None = None          # "random" (fastai's RandomSplitter) or "random-2018" (get_cv_idxs)
    item: str = "movieId"             # or "title", as the fastai book keys movies
    device: str = "auto"
    threads: int | None = None        # torch CPU threads; None: 1 (fastest for these small steps on a shared CPU)
    preset: str = "course"

    RULES: ClassVar[dict] = {
        "model": OneOf(MODELS), "bs": Interval(int, 1, 1 << 24), "valid_pct": FRACTION_OPEN, "seed": SEED,
        "item": OneOf(ITEMS), "device": OneOf(("auto", "cpu", "cuda")), "preset": OneOf(("course", "fast", "best")),
        "members": Interval(int, 1, 64),
    }
    OPTIONAL: ClassVar[dict] = {
        "factors": Interval(int, 1, 1024), "epochs": Interval(int, 1, 10_000), "lr": POSITIVE, "wd": NON_NEGATIVE,
        "optimizer": OneOf(OPTIMIZERS), "schedule": OneOf(SCHEDULES), "split": OneOf(SPLITS),
        "threads": Interval(int, 1, 1024),
    }

    def validate(self) -> "FitConfig":
        validate(self, "fit")
        for name, rule in self.OPTIONAL.items():
            if getattr(self, name) is not None:
                check(getattr(self, name), rule, name, "fit")
        for size in self.layers:
            check(size, Interval(int, 1, 4096), "layers", "fit")
        if self.members > 1 and self.model != "DotProductBias":
            raise XlbridgeInputError(f"the 'members' parameter of fit averages DotProductBias models; {self.model} has none")
        if self.y_range is not None and not (len(self.y_range) == 2 and self.y_range[0] < self.y_range[1]):
            raise XlbridgeInputError(f"the 'y_range' parameter of fit must be (low, high) with low < high; got {self.y_range}")
        return self

    def resolved(self) -> "FitConfig":
        """Every None filled in: from the preset, then the model's recipe."""
        recipe = {**RECIPES[self.model], **PRESETS[self.preset].get(self.model, {})}
        filled = {k: recipe.get(k) for k in ("factors", "epochs", "lr", "wd", "optimizer", "schedule", "split")
                  if getattr(self, k) is None}
        filled["split"] = filled.get("split", self.split) or "random"
        filled["factors"] = filled.get("factors", self.factors) or 50
        for key in ("bs", "members"):   # a preset's batch size and ensemble, unless given explicitly
            if key in recipe and getattr(self, key) == getattr(FitConfig, key):
                filled[key] = recipe[key]
        return replace(self, **filled)


# Presets: the lesson's settings ("course"), or ours, tuned on ml-100k (benchmarks/collab_training.py
# prints them on split seeds 0-4). Both train several DotProductBias side by side in one loop and
# average them (models/collab.py DotProductBiasEnsemble): the average of independent fits beats
# any one of them, and costs little more to train. Bigger batches than the lesson's 64 keep the
# number of steps, which is what a small model's training time is made of, low.
PRESETS: dict[str, dict[str, dict]] = {
    "course": {},
    "fast": {"DotProductBias": dict(members=2, factors=32, bs=512, lr=0.01, wd=0.2, epochs=4)},
    "best": {"DotProductBias": dict(members=8, factors=64, bs=768, lr=0.008, wd=0.2, epochs=5)},
}


@dataclass
class FitResult:
    """What `fit_collab` did: the trained model, its data, the table of epochs, the file."""

    model: object
    data: CollabData
    config: FitConfig
    history: list
    seconds: float                # training time (the loop), without loading the data
    path: Path | None = None
    device: str = "cpu"
    threads: int = 1

    @property
    def valid_mse(self) -> float:
        return self.history[-1].valid_loss


def build_model(config: FitConfig, data: CollabData):
    """The model `config.model` names, sized for `data`, with the lesson's start weights (seeded
    by the caller). Returns (model, the keyword arguments that rebuild it)."""
    from xlbridge.models.collab import DotProduct, DotProductBias
    from xlbridge.models.collab_nn import CollabNN, EmbeddingNet, EmbeddingNN

    lo, hi = data.rating_range
    older = RECIPES[config.model].get("older", False)
    # the book squashes into (0, 5.5); the older lesson into the ratings' own range (EmbeddingNet: half a star wider)
    y_range = tuple(config.y_range) if config.y_range else ((lo, hi) if older else (0.0, 5.5))
    if config.model == "EmbeddingNet" and not config.y_range:
        y_range = (lo - 0.5, hi + 0.5)
    sizes = dict(n_users=data.n_users, n_movies=data.n_movies)
    if config.members > 1:
        from xlbridge.models.collab import DotProductBiasEnsemble

        ensemble = DotProductBiasEnsemble(**sizes, n_factors=config.factors, n_members=config.members, y_range=y_range)
        return ensemble, dict(sizes, n_factors=config.factors * config.members, y_range=y_range)
    if config.model == "DotProduct":
        kw, cls = dict(sizes, n_factors=config.factors, y_range=y_range), DotProduct
    elif config.model in ("DotProductBias", "EmbeddingDotBias"):
        kw = dict(sizes, n_factors=config.factors, y_range=y_range, init="uniform" if older else "trunc_normal")
        cls = DotProductBias
    elif config.model == "CollabNN":
        kw, cls = dict(sizes, y_range=y_range), CollabNN
    elif config.model == "EmbeddingNN":
        kw, cls = dict(sizes, layers=tuple(config.layers), y_range=y_range), EmbeddingNN
    else:
        kw, cls = dict(sizes, n_factors=config.factors, y_range=y_range), EmbeddingNet
    return cls(**kw), kw


def _optimizer_and_schedule(config: FitConfig, model):
    from xlbridge.models.schedule import OneCycle, Piecewise
    from xlbridge.models.training import adam_l2, adamw, sgd_momentum

    opt = {"adamw": lambda: adamw(model, lr=config.lr, wd=config.wd),
           "sgd": lambda: sgd_momentum(model, lr=config.lr, momentum=0.9, wd=config.wd),
           "adam": lambda: adam_l2(model, lr=config.lr, wd=config.wd)}[config.optimizer]()
    schedule = {"one_cycle": OneCycle(config.lr),
                "step": Piecewise(((0.5, config.lr), (1.0, config.lr / 10))),   # set_lrs(opt, lr / 10) halfway
                "constant": None}[config.schedule]
    return opt, schedule


def fit_collab(ratings: Ratings, config: FitConfig = FitConfig(), out=None, *, progress: bool = False,
               on_epoch: Callable | None = None, data: CollabData | None = None) -> FitResult:
    """Train `config.model` on `ratings` and save it to `out` (when given). `data` reuses an
    already prepared split (the benchmark trains every model on one)."""
    import torch

    from xlbridge.models.collab import mse_members
    from xlbridge.models.device import pick_device
    from xlbridge.models.training import fit

    config = config.validate().resolved()
    try:
        device = pick_device(config.device)
    except ValueError as e:
        raise XlbridgeInputError(f"--device: {e}") from None
    if out is not None and not Path(out).parent.is_dir():   # find out now, not after the training run
        raise XlbridgeInputError(f"{out}: the folder {Path(out).parent} does not exist")
    data = data or prepare(ratings, valid_pct=config.valid_pct, seed=config.seed, split=config.split, item=config.item)
    threads = config.threads or 1
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(config.seed)                         # the start weights
        model, kwargs = build_model(config, data)
        model = model.to(device)
        as_tensors = lambda arrays: tuple(torch.from_numpy(a).to(device) for a in arrays)  # noqa: E731
        opt, schedule = _optimizer_and_schedule(config, model)
        t0 = time.perf_counter()
        history = fit(model, as_tensors(data.train), as_tensors(data.valid), loss_fn=mse_members, epochs=config.epochs,
                      batch_size=config.bs, opt=opt, schedule=schedule, seed=config.seed, progress=progress,
                      on_epoch=on_epoch)
        seconds = time.perf_counter() - t0
        if config.members > 1:
            model = model.combined()        # one DotProductBias: interpretable, exportable, saved as such
    finally:
        torch.set_num_threads(previous)
    result = FitResult(model, data, config, history, seconds, device=device.type, threads=threads)
    if out is not None:
        result.path = save_collab_model(result, kwargs, out)
    return result


def save_collab_model(result: FitResult, kwargs: dict, path) -> Path:
    """Write the model and everything needed to use it again (see the module docstring)."""
    from xlbridge.models import checkpoint

    d = result.data
    meta = {
        "users": [None if u == "#na#" else int(u) for u in d.users],
        "movies": [None if m == "#na#" else (m if d.item == "title" else int(m)) for m in d.movies],
        "titles": list(d.titles), "item": d.item, "train_counts": d.train_counts().tolist(),
        "split": dict(d.split), "source": d.source, "rating_range": list(d.rating_range),
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(result.config).items()},
        "history": [row.as_dict() for row in result.history],
    }
    kw = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}
    with atomic_path(Path(path)) as tmp:
        checkpoint.save(tmp, FORMAT, result.model, kw, meta)
    return Path(path)


# What a saved collab model may be: anything MovieLens 32M needs, nothing that fills the memory.
SAVED_RULES = {
    "n_users": Interval(int, 1, 10_000_000), "n_movies": Interval(int, 1, 10_000_000),
    "n_factors": Interval(int, 1, 1024), "user_sz": Interval(int, 1, 1024), "movie_sz": Interval(int, 1, 1024),
    "n_hidden": Interval(int, 1, 4096), "n_act": Interval(int, 1, 4096),
}


# What the rest of a saved model's meta must be, where it is there (a workbook's intro quotes it)
META_KINDS = {"source": str, "item": str, "settings": dict, "split": dict, "history": list}
MAX_WEIGHT = 1e6   # trained embeddings and layers stay within a few units; 1e154 squared overflows float64


@dataclass
class SavedModel:
    """A trained collab model as `load_collab_model` gives it back."""

    model: object                 # the nn.Module, in eval mode, on the CPU
    users: list                   # index -> user id (None for the unknown slot)
    movies: list                  # index -> movie id or title (None for the unknown slot)
    titles: list[str]             # index -> title
    train_counts: list[int]       # index -> training ratings of that movie
    meta: dict = field(default_factory=dict)

    def movie_index(self, movie) -> int | None:
        try:
            return self.movies.index(movie)
        except ValueError:
            return None


def load_collab_model(path) -> SavedModel:
    """A model saved by `fit_collab`, checked before anything is built: a foreign, truncated or
    crafted file is one clear error, and no code from the file ever runs."""
    from xlbridge.models import checkpoint

    path = Path(path)
    if not path.is_file():
        raise XlbridgeInputError(f"{path}: no such model file")
    try:
        saved = checkpoint.load(path, FORMAT)
        config, meta = saved["config"], saved["meta"]
        for key, rule in SAVED_RULES.items():
            if key in config:
                check(config[key], rule, key, "the saved model")
        for key in ("layers",):
            for size in config.get(key) or ():
                check(size, Interval(int, 1, 4096), key, "the saved model")
        users, movies, titles, counts = (meta.get(k) for k in ("users", "movies", "titles", "train_counts"))
        if not all(isinstance(x, list) for x in (users, movies, titles, counts)):
            raise checkpoint.CheckpointError("its id maps (users, movies, titles, train_counts) are missing")
        if (len(users), len(movies)) != (config.get("n_users"), config.get("n_movies")) or \
                not len(titles) == len(counts) == len(movies):
            raise checkpoint.CheckpointError(f"its id maps ({len(users)} users, {len(movies)} movies) do not match "
                                             f"the model ({config.get('n_users')} users, {config.get('n_movies')} movies)")
        if not all(isinstance(t, str) for t in titles):
            raise checkpoint.CheckpointError("its titles are not all text")
        long = next((i for i, t in enumerate(titles) if fit_text(t) != t), None)   # fit's titles were cut to fit
        if long is not None:
            raise checkpoint.CheckpointError(f"title {long} has {len(titles[long]):,} characters, more than a cell holds")
        wrong = next((k for k, kind in META_KINDS.items() if k in meta and not isinstance(meta[k], kind)), None)
        if wrong is not None:
            raise checkpoint.CheckpointError(f"its '{wrong}' is not a {META_KINDS[wrong].__name__}")
        if not all(isinstance(row, dict) and all(isinstance(v, (int, float)) for v in row.values())
                   for row in meta.get("history", [])):
            raise checkpoint.CheckpointError("its history is not a list of epochs (numbers by name)")
        model = checkpoint.rebuild(saved).eval()
        largest = max(float(v.abs().max()) for v in saved["state_dict"].values() if v.numel())
        if largest > MAX_WEIGHT:
            raise checkpoint.CheckpointError(f"its weights reach {largest:.3g}, beyond the {MAX_WEIGHT:g} a trained model "
                                             "stays far below: the PCA of its factors would overflow")
    except checkpoint.CheckpointError as e:
        raise XlbridgeInputError(f"{path}: {e}") from None
    except XlbridgeInputError as e:
        raise XlbridgeInputError(f"{path}: not a usable collab model: {e}") from None
    return SavedModel(model, users, movies, titles, counts, meta)
