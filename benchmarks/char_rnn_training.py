"""Train CharRnn and CharSeqRnn on the Nietzsche text and compare their speed and validation loss.

    python -m xlbridge.benchmarks.char_rnn_training [PATH] [--chars 200000] [--epochs 2] [--threads 1]

Both models have the lesson's sizes (embedding 42, hidden 256, 8 characters of context,
Adam lr 1e-2, W_hh started at the identity). They read the same first `--chars` characters
of the text (the last 10% held out for validation) and see every character once per epoch:

    CharRnn     every overlapping 8-character window -> the next character: N windows, 8 steps each
    CharSeqRnn  non-overlapping 8-character sequences -> every next character: N / 8 sequences

so both predict about N characters per epoch, and CharSeqRnn does about 8x less work for it.
"chars/s" counts predicted (target) characters per second of training. Validation losses are
not directly comparable: CharRnn's always has 8 characters of context, CharSeqRnn's averages
over positions 1..8, where the first steps have almost none.

Runs on CUDA when available, else the CPU. One CPU thread by default: on a 2-core machine
shared with other work, torch's 2 threads ran 10-20x slower than one (they wait on each
other); pass --threads 0 to let torch choose. With the defaults (200,000 characters, 2
epochs) it takes about a minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from xlbridge import text as T
from xlbridge.models.char_rnn import CharModelConfig, build_model, loss_fn
from xlbridge.models.device import default_device
from xlbridge.models.training import fit

DEFAULT_TEXT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nietzsche" / "nietzsche.txt"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path", nargs="?", type=Path, default=DEFAULT_TEXT, help="the text (default: %(default)s)")
    p.add_argument("--chars", type=int, default=200_000, help="characters of the text used (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--n-fac", type=int, default=42)
    p.add_argument("--n-hidden", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch, 0 for torch's choice (default: %(default)s)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    text = T.load_text(args.path)[: args.chars]
    vocab = T.Vocab.from_text(text)
    train_ids, valid_ids = T.split_text(vocab.encode(text, source=str(args.path)))
    device = default_device()
    print(f"{args.path.name}: {len(text):,} characters ({len(train_ids):,} train, {len(valid_ids):,} valid), "
          f"vocabulary {len(vocab)}, device {device}, {torch.get_num_threads()} CPU threads")

    rows = []
    for kind, label in (("rnn", "CharRnn"), ("seq", "CharSeqRnn")):
        torch.manual_seed(args.seed)
        config = CharModelConfig(kind, len(vocab), args.n_fac, args.n_hidden, 8, identity_init=True)
        model = build_model(config).to(device)
        tr, va = (tuple(torch.from_numpy(a).to(device) for a in T.make_dataset(kind, ids, 8))
                  for ids in (train_ids, valid_ids))
        t0 = time.perf_counter()
        history = fit(model, tr, va, loss_fn=loss_fn, epochs=args.epochs, batch_size=args.batch_size,
                      opt=torch.optim.Adam(model.parameters(), lr=1e-2), seed=args.seed,
                      progress=sys.stderr.isatty())  # a live bar in a terminal, not pages of it in a log
        for row in history:
            rows.append((label, row.epoch, len(tr[0]), tr[1].numel(), row.rows_per_s, row.train_loss, row.valid_loss))
        print(f"{label}: {time.perf_counter() - t0:.1f} s")

    header = f"{'model':<11} {'epoch':>5} {'samples':>8} {'targets':>8} {'chars/s':>9} {'train loss':>10} {'valid loss':>10}"
    print()
    print(header)
    print("-" * len(header))
    for label, epoch, samples, targets, cps, tl, vl in rows:
        print(f"{label:<11} {epoch:>5} {samples:>8,} {targets:>8,} {cps:>9,.0f} {tl:>10.4f} {vl:>10.4f}")


if __name__ == "__main__":
    main()
