"""Transfer by locality: each defect environment left out of training entirely, then scored.

For each type, a model is trained (from the same start, with the same budget) on every frame but
that type's, then scored on all of the held-out type's frames and on the validation frames of
the types it trained on. A model built from local images should describe a new arrangement of
known local environments: the goal is a held-out error within 2× of the trained types' error.
Runs are resumable folders under --runs; a finished one is only scored again. With --model, a
model file that never saw any of --types is scored as it is, without training.

    cnnas experiment transfer --data data/free_all/all.h5 --split train_all \
        --types hbn_vacancy_b heterostructure_vacancy_interface --hours 0.25 \
        --runs runs/transfer --out results/transfer.md
    cnnas experiment transfer --data data/transfer/other_T.h5 --split half \
        --types hbn_vacancy_b heterostructure_vacancy_interface \
        --model results/models/free_pre/best.pt --out results/transfer_free_pre.md
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ase_cnnas.modelfile import load_model

from ..cli import run_module
from ..evaluate import predict
from ..h5data import Frames, read_frames, write_split
from ..report import command, hardware, write_text
from ..splits import held_out, read_split
from ..train import train
from ..trainconfig import TrainConfig

NEW_TYPES = ("hbn_vacancy_b", "heterostructure_vacancy_b", "heterostructure_vacancy_n",
             "heterostructure_vacancy_interface", "heterostructure_stone_wales_bn")
GOAL = 2.0  # held-out error / trained types' error
HEADER = ("| left out | its frames | energy MAE held out (meV/atom) | trained types | ratio | "
          "force MAE held out (meV/Å) | trained types | ratio |\n" + "|---" * 8 + "|")


def errors(model_path: Path, frames: Frames, index: np.ndarray) -> tuple[float, float]:
    """Energy MAE (meV/atom) and force MAE over the model's force components (meV/Å)."""
    model = load_model(model_path)
    energy, forces = predict(model, frames, index, forces=True)
    sub = frames.subset(index)
    d = model.force_components
    return (float(np.abs((energy - sub.energy) / sub.natoms).mean() * 1e3),
            float(np.abs(forces[:, :d] - sub.forces[:, :d]).mean() * 1e3))


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--data", type=Path, required=True, help="HDF5 frames file")
    ap.add_argument("--split", required=True,
                    help="its stored split whose validation frames score the trained types")
    ap.add_argument("--types", nargs="+", default=list(NEW_TYPES),
                    help="structure types to leave out, one run each")
    ap.add_argument("--init", default="default", help="the model every run starts from")
    ap.add_argument("--model", default=None,
                    help="score this model file instead of training: one that never saw any "
                    "of --types (its trained types: the split's validation frames of the rest)")
    ap.add_argument("--hours", type=float, default=0.25, help="training time of each run")
    ap.add_argument("--lr", type=float, default=2e-4, help="learning rate of each run")
    ap.add_argument("--batch", type=int, default=16, help="frames per step")
    ap.add_argument("--runs", type=Path, default=Path("runs/transfer"),
                    help="folder of the run folders (resumable)")
    ap.add_argument("--out", type=Path, default=Path("results/transfer.md"),
                    help="Markdown table to write")


def run(args: argparse.Namespace) -> None:
    frames = read_frames(args.data)
    base = read_split(args.data, args.split)
    kind = np.array([s.partition("@")[0] for s in frames.structure])
    rows = []
    if args.model:  # trained on none of --types: every one is left out of "trained"
        best = Path(args.model)
        trained = held_out(base, frames.structure.astype(str), args.types)["validation"]
        e_in, f_in = errors(best, frames, trained)
    for t in args.types:
        if not args.model:
            name = f"{args.split}_without_{t}"
            parts = held_out(base, frames.structure.astype(str), [t])
            write_split(args.data, name, parts, {"from": args.split, "hold_out": [t]})
            best = train(TrainConfig(args.data, args.runs / t, split=name, init=args.init,
                                     heights=True, any_cell=True, force_weight=1.0, lr=args.lr,
                                     batch=args.batch, warmup=100, ema=0.99, hours=args.hours,
                                     epochs=1000, seed=1))
            e_in, f_in = errors(best, frames, parts["validation"])
        held = np.flatnonzero(kind == t)
        e_out, f_out = errors(best, frames, held)
        rows.append(f"| {t} | {len(held)} | {e_out:.2f} | {e_in:.2f} | {e_out / e_in:.1f} | "
                    f"{f_out:.0f} | {f_in:.0f} | {f_out / f_in:.1f} |")
        print(rows[-1], flush=True)
    how = (f"""The model `{args.model}`, which never saw {', '.join(args.types)}, scores each of
those types' frames in `{args.data}` (held out) and the validation frames of split
`{args.split}` of the other types (trained types).""" if args.model else f"""Each run starts from
`{args.init}` and trains {args.hours} h on `{args.data}` (split `{args.split}`) without one
structure type, then scores all of that type's frames (held out) and the validation frames of
the types it trained on.""")
    write_text(args.out, f"""# Transfer: each defect environment left out of training

{how} Goal: held-out error within {GOAL:.0f}× of the trained types'. Energies per atom; forces
over all three components.

Regenerate: `{command()}`
Hardware: {hardware()}

{HEADER}
{chr(10).join(rows)}
""")
    print(args.out.read_text())


def main(argv: list[str] | None = None) -> int:
    """`python -m training.experiments.transfer`: the same as `cnnas experiment transfer`."""
    return run_module(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
