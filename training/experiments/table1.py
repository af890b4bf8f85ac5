"""The paper's Table 1 (NOTES §4): dimer models in 2D and 3D, classic baselines, hole tests.

Dimer models in 2D and 3D, distance and energy, each range and hole, Network 1 for all; the classic
baselines on raw images; extrapolation and hole tests.

Each row makes its dimers (`training.dimers`), trains Network 1 (Adam on MSE, `training.train`),
scores its test split, and scores fresh dimers outside its ranges (extrapolation, the hole).
Data and checkpoints go to runs/table1/<scale>/<row>/; each finished row's result (metrics,
settings, hardware, and up to 5,000 plotted points) to results/table1/<scale>/<row>.json, which is
committed, so rows can run in any order and on any machine; the table, parity plots (test points
over the training distribution, paper Figs. 4–5) and loss curves (Fig. 3) are rebuilt from
whatever rows are done.

    python -m training.experiments.table1 --scale cpu --rows 2d-distance-1-2 --baselines
    python -m training.experiments.table1 --scale paper --rows all     (a GPU; days on a CPU)
    python -m training.experiments.table1 --scale cpu --study grid   (32² … 256², and 64² upscaled)
    python -m training.experiments.table1 --scale cpu --rows 2d-energy-1-0 --sampling energy
    python -m training.experiments.table1 --table-only
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ase_cnnas.modelfile import load_model

from ..batches import to_tensors
from ..cli import run_module
from ..dimers import make_dimers
from ..evaluate import predict
from ..h5data import Frames, read_frames, write_frames
from ..report import command, hardware, save_figure, write_text
from ..splits import random_split
from ..train import train, trained_on
from ..trainconfig import TrainConfig


@dataclass(frozen=True)
class Row:
    """One model of Table 1: its dimers, what it learns, where else it is scored, the paper's
    test MAE and validation MSE (None where the paper gives none)."""

    dim: int
    label: str  # "distance" (Å) or "U" (ε)
    ranges: list  # intervals of r (Å) for distance rows, of U (ε) for energy rows
    extra: dict = field(default_factory=dict)  # title → ranges scored outside training
    paper_mae: float | None = None
    paper_mse: float | None = None
    potential: str = "lj"


HOLE_R, HOLE_U = [(1, 1.67), (2.33, 3)], [(-1, -0.67), (-0.33, 0)]
ROWS = {
    "2d-distance-1-3": Row(2, "distance", [(1, 3)], {}, 1.58e-3, 5.52e-6),
    "2d-distance-1-2": Row(2, "distance", [(1, 2)], {"extrapolation 2–3 Å": [(2, 3)]},
                           9.99e-4, 1.48e-6),
    "2d-distance-2-3": Row(2, "distance", [(2, 3)], {"extrapolation 1–2 Å": [(1, 2)]},
                           9.72e-4, 1.47e-6),
    "2d-distance-hole": Row(2, "distance", HOLE_R, {"hole 1.67–2.33 Å": [(1.67, 2.33)]},
                            3.52e-3, 3.48e-6),
    "3d-distance-1-3": Row(3, "distance", [(1, 3)], {}, 3.21e-3, 1.64e-5),
    "3d-distance-1-2": Row(3, "distance", [(1, 2)], {"extrapolation 2–3 Å": [(2, 3)]},
                           1.58e-3, 4.20e-6),
    "3d-distance-2-3": Row(3, "distance", [(2, 3)], {"extrapolation 1–2 Å": [(1, 2)]},
                           1.72e-3, 4.77e-6),
    "3d-distance-hole": Row(3, "distance", HOLE_R, {"hole 1.67–2.33 Å": [(1.67, 2.33)]},
                            2.93e-3, 1.50e-5),
    "2d-energy-1-0": Row(2, "U", [(-1, 0)], {}, 1.41e-3, 5.82e-6),
    "2d-energy-0.5-0": Row(2, "U", [(-0.5, 0)], {"extrapolation −1…−0.5 ε": [(-1, -0.5)]},
                           1.62e-3, 5.29e-6),
    "2d-energy-1-0.5": Row(2, "U", [(-1, -0.5)], {"extrapolation −0.5…0 ε": [(-0.5, 0)]},
                           1.62e-3, 2.33e-6),
    "2d-energy-hole": Row(2, "U", HOLE_U, {"hole −0.67…−0.33 ε": [(-0.67, -0.33)]},
                          1.41e-3, 3.72e-6),
    "3d-energy-1-0": Row(3, "U", [(-1, 0)], {}, 5.11e-3, 1.91e-4),
    "3d-energy-0.5-0": Row(3, "U", [(-0.5, 0)], {"extrapolation −1…−0.5 ε": [(-1, -0.5)]},
                           1.14e-2, 3.19e-4),
    "3d-energy-hole": Row(3, "U", HOLE_U, {"hole −0.67…−0.33 ε": [(-0.67, -0.33)]},
                          9.43e-3, 2.05e-4),
    # the extra models of §3 (no figures in the paper's text)
    "2d-harmonic-1-3": Row(2, "U", [(0, 1)], potential="harmonic"),
    "2d-r12-1-3": Row(2, "U", [(3 ** -12, 1)], potential="r12"),
}
UNITS = {"distance": "Å", "U": "ε"}
# images, grid, epochs, batch, learning rate per dimension; "paper" is the paper's (batch not
# stated there), "cpu" what 2 cores train in about an hour a row (many images, few epochs: with
# 20,000 images × 60 epochs Network 1 overfitted, 0.0065 Å training RMS against 0.023 Å
# validation MAE), "smoke" for tests
SCALES = {
    "paper": {2: (500_000, 256, 500, 64, 1e-4), 3: (100_000, 64, 500, 64, 1e-4)},
    "cpu": {2: (100_000, 64, 18, 64, 1e-3), 3: (20_000, 32, 12, 32, 1e-3)},
    "smoke": {2: (120, 16, 2, 16, 1e-3), 3: (120, 8, 2, 16, 1e-3)},
}
BASELINE_IMAGES = {"paper": 50_000, "cpu": 5_000, "smoke": 100}  # the paper's 50,000
# the grid study (§3.1): 2D energy at equal data on each grid, and 64² images upscaled to 256² by
# replicating pixels; images and epochs per scale (the paper does not state its own), and the
# (grid, upsample) variants. On 2 cores Network 1 trains 1,700 images/s at 32², 600 at 64², 100
# at 128² and 22 at 256², so the CPU scale stops at 128² and upscales 64² to 128² instead.
GRID_STUDY_ROW = "2d-energy-1-0"
GRID_STUDY = {"paper": (100_000, 100), "cpu": (10_000, 12), "smoke": (120, 2)}
GRID_VARIANTS = {"paper": [(32, 1), (64, 1), (128, 1), (256, 1), (256, 4)],
                 "cpu": [(32, 1), (64, 1), (128, 1), (128, 2)],
                 "smoke": [(8, 1), (16, 1), (16, 2)]}


def dimers(name: str, n: int, ranges: list, seed: int, sampling: str = "distance") -> Frames:
    """The row's dimers, with the pair energy also stored as label "U" (in ε)."""
    row = ROWS[name]
    frames = make_dimers(n, row.dim, ranges, space="energy" if row.label == "U" else "distance",
                         sampling=sampling, potential=row.potential, seed=seed)
    frames.labels["U"] = frames.energy.copy()
    return frames


PLOTTED = 5000  # points kept per set for the plots


def _some(rng: np.random.Generator, *arrays: np.ndarray) -> list[list[float]]:
    """The same random ≤ PLOTTED entries of each array, as lists."""
    keep = np.sort(rng.permutation(len(arrays[0]))[:PLOTTED])
    return [a[keep].tolist() for a in arrays]


def run_row(name: str, scale: str, folder: Path, device: str, baselines: bool,
            grid: int | None = None, sampling: str = "distance", upsample: int = 1,
            study: tuple[int, int] | None = None) -> dict:
    """Train and score one row (resumable: training resumes from its checkpoint); `grid`,
    `upsample`, `sampling` and `study` (images, epochs) make the variants of the studies."""
    row = ROWS[name]
    label = row.label
    n, scale_grid, epochs, batch, lr = SCALES[scale][row.dim]
    n, epochs = study or (n, epochs)
    grid = grid or scale_grid
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data.h5"
    if not data.exists():
        write_frames(data, dimers(name, n, row.ranges, seed=0, sampling=sampling),
                     {"experiment": "table1", "row": name, "sampling": sampling})
    run = folder / "run"
    logged = run / "history.json"
    history = json.loads(logged.read_text()) if logged.is_file() else []
    if len(history) < epochs or not (run / "best.pt").is_file():  # a finished run is only scored
        train(TrainConfig(data, run, grid=grid, epochs=epochs, batch=batch, lr=lr,
                          network="network1", target=label, activation="relu",
                          upsample=upsample, device=device))
        history = json.loads(logged.read_text())
    model = load_model(run / "best.pt", device=device)
    frames = read_frames(data)
    parts = random_split(len(frames), seed=0)
    y = frames.labels[label]
    pred = {k: predict(model, frames, parts[k], 256)[0] for k in ("test", "validation")}
    rng = np.random.default_rng(0)
    result = {"row": name, "variant": folder.name.partition("@")[2], "scale": scale,
              "study": "grid" if study else None, "sampling": sampling,
              "hardware": " then ".join(trained_on(run)) or hardware(), "scored_on": hardware(),
              "command": command(),
              "images": n, "grid": grid, "upsample": upsample, "epochs": epochs, "batch": batch,
              "lr": lr, "seconds": history[-1]["seconds"], "unit": UNITS[label],
              "test_mae": float(np.abs(pred["test"] - y[parts["test"]]).mean()),
              "test_rmse": float(np.sqrt(np.square(pred["test"] - y[parts["test"]]).mean())),
              "validation_mse": float(
                  np.square(pred["validation"] - y[parts["validation"]]).mean()),
              "paper_mae": row.paper_mae, "paper_mse": row.paper_mse,
              "history": history,
              "points": {"train": _some(rng, y[parts["train"]])[0],
                         "test": _some(rng, y[parts["test"]], pred["test"])}}
    for space in ("distance", "energy"):  # the same fresh test sets for both sampling variants
        p, t = fresh_predictions(model, name, n, row.ranges, 2, label, space)
        result.setdefault("rmse_on", {})[space] = float(np.sqrt(np.square(p - t).mean()))
    for title, where in row.extra.items():
        p, t = fresh_predictions(model, name, n, where, 1, label)
        result.setdefault("extra", {})[title] = {
            "mae": float(np.abs(p - t).mean()), "pred_range": [float(p.min()), float(p.max())],
            "true_range": [float(t.min()), float(t.max())], "points": _some(rng, t, p)}
    if baselines:
        result["baselines"] = run_baselines(frames, parts, y, grid, BASELINE_IMAGES[scale], model)
    return result


def fresh_predictions(model, name: str, n: int, ranges: list, seed: int, label: str,
                      sampling: str = "distance") -> tuple[np.ndarray, np.ndarray]:
    """Predictions and true labels on fresh dimers of row `name` over `ranges` (a tenth of its
    `n` training dimers, at least 50)."""
    fresh = dimers(name, max(n // 10, 50), ranges, seed=seed, sampling=sampling)
    return predict(model, fresh, np.arange(len(fresh)), 256)[0], fresh.labels[label]


def run_baselines(frames: Frames, parts: dict, y: np.ndarray, grid: int, n_images: int,
                  model) -> dict:
    """The paper's classic regressors on the raw flattened images (scikit-learn with the paper's
    settings; its "linear (alpha 1, poly degree 3, coef 1)" are KernelRidge's defaults, which a
    linear kernel ignores but for alpha), trained on 70 % of `n_images` from the row's training
    frames, scored on 30 % of `n_images` from the row's test frames, like the CNN."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.neural_network import MLPRegressor

    train_idx = parts["train"][:round(0.7 * n_images)]
    test_idx = parts["test"][:round(0.3 * n_images)]

    def images(index):
        b = to_tensors(frames, index, model.device)
        with torch.no_grad():
            image = model.images(b["positions"], b["numbers"], b["cells"], b["frame"],
                                 b["n_frames"])
        return (image / model.image_scale).flatten(1).cpu().numpy()  # V of Eq. (1), unscaled

    x_train, x_test = images(train_idx), images(test_idx)
    cnn = predict(model, frames, test_idx, 256)[0]
    out = {"images": n_images, "train": len(train_idx), "test": len(test_idx),
           "features": x_train.shape[1],
           "CNN (Network 1, this row)": float(np.abs(cnn - y[test_idx]).mean())}
    regressors = {
        "random forest (200 trees, MSE)": RandomForestRegressor(n_estimators=200, n_jobs=-1,
                                                                random_state=0),
        "kernel ridge, linear (alpha 1)": KernelRidge(alpha=1.0, kernel="linear"),
        **{f"kernel ridge, Gaussian γ = {g} (alpha 1)": KernelRidge(alpha=1.0, kernel="rbf",
                                                                   gamma=g)
           for g in (1, 2, 4, 16)},
        "MLP (2 × 10 ReLU, Adam, lr 1e-3, 200 epochs)": MLPRegressor(
            hidden_layer_sizes=(10, 10), learning_rate_init=1e-3, max_iter=200, random_state=0),
    }
    for title, reg in regressors.items():
        t0 = time.time()
        reg.fit(x_train, y[train_idx])
        out[title] = float(np.abs(reg.predict(x_test) - y[test_idx]).mean())
        print(f"{title}: MAE {out[title]:.3g} ({time.time() - t0:.0f} s)", flush=True)
    return out


PAPER_BASELINES = {"random forest (200 trees, MSE)": 1.68e-2,
                   "kernel ridge, linear (alpha 1)": 1.24e-1,
                   **{f"kernel ridge, Gaussian γ = {g} (alpha 1)": 2.47e-1 for g in (1, 2, 4, 16)},
                   "MLP (2 × 10 ReLU, Adam, lr 1e-3, 200 epochs)": 1.24e-1,
                   "CNN (Network 1, this row)": 9.99e-4}


def plot_row(result: dict, out: Path) -> None:
    """Parity plot over the training distribution, and the loss curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit = result["unit"]
    name = result["row"] + (f"@{result['variant']}" if result.get("variant") else "")
    fig, ax = plt.subplots(figsize=(5, 5))
    back = ax.twinx()
    counts, *_ = back.hist(result["points"]["train"], bins=60, color="lightblue", alpha=0.6)
    back.set_ylim(0, 2.5 * counts.max())  # the distribution along the bottom, behind the points
    back.set_yticks([])
    ax.set_zorder(back.get_zorder() + 1)
    ax.patch.set_visible(False)
    true, pred = result["points"]["test"]
    ax.plot(true, pred, ".", ms=2, color="C0", label=f"test (MAE {result['test_mae']:.2g} {unit})")
    for i, (title, e) in enumerate(result.get("extra", {}).items()):
        ax.plot(*e["points"], ".", ms=2, color=f"C{i + 3}", label=f"{title} (MAE {e['mae']:.2g})")
    lo, hi = ax.get_xlim()
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.5)
    ax.set_xlabel(f"true ({unit})")
    ax.set_ylabel(f"predicted ({unit})")
    ax.set_title(f"{name} ({result['scale']} scale); light blue: training labels", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    save_figure(fig, out / f"{name}_parity.png", dpi=110)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    h = result["history"]
    epochs = [e["epoch"] for e in h]
    ax.semilogy(epochs, [e["train_mse"] for e in h], label="training (scaled MSE)")
    ax.semilogy(epochs, [e["val_mse"] for e in h], label=f"validation MSE ({unit}²)")
    ax.set_xlabel("epoch")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, out / f"{name}_loss.png", dpi=110)


def _paper(value, unit=""):
    return f"{value:.3g}{unit}" if value is not None else "—"


def table(out: Path) -> str:
    """results/table1.md from every finished row in results/table1/<scale>/, with plots."""
    done, grid_study = {}, []
    for path in sorted((out.parent / "table1").glob("*/*.json")):  # <scale>/<row>[@variant].json
        r = json.loads(path.read_text())
        (grid_study if r.get("study") == "grid" else done.setdefault(r["row"], [])).append(r)
    lines = ["# Table 1: dimer models (Network 1) against the paper", "",
             "Regenerate a row: `python -m training.experiments.table1 --scale cpu --rows ROW` "
             "(`--scale paper` on a GPU); the table: `python -m training.experiments.table1 "
             "--table-only`. Each row states its scale, data, hardware and time.",
             "",
             "| row | paper test MAE | ours | paper val. MSE | ours | "
             "scale: images, grid, epochs | out of range: MAE (predictions span) | "
             "hardware, time |", "|---|---|---|---|---|---|---|---|"]
    for name, row in ROWS.items():
        unit = f" {UNITS[row.label]}"
        for r in done.get(name, []):
            extra = "; ".join(f"{t}: {e['mae']:.3g} "
                              f"({e['pred_range'][0]:.2f}…{e['pred_range'][1]:.2f}"
                              f" for true {e['true_range'][0]:.2f}…{e['true_range'][1]:.2f})"
                              for t, e in r.get("extra", {}).items()) or "—"
            title = f"{name} ({r['variant']})" if r.get("variant") else name
            lines.append(f"| {title} | {_paper(row.paper_mae, unit)} | **{r['test_mae']:.3g}** | "
                         f"{_paper(row.paper_mse)} | {r['validation_mse']:.3g} | {r['scale']}: "
                         f"{r['images']:,}, {r['grid']}^{row.dim}, {r['epochs']} | {extra} | "
                         f"{r['hardware']}, {r['seconds'] / 60:.0f} min |")
            plot_row(r, out.parent / "table1")
        if name not in done:
            lines.append(f"| {name} | {_paper(row.paper_mae, unit)} | not run yet | "
                         f"{_paper(row.paper_mse)} | | | | |")
    for r in (r for rs in done.values() for r in rs if "baselines" in r):
        lines += baseline_section(r)
    lines += grid_section(grid_study, out.parent / "table1") + sampling_section(done)
    lines += ["", "Plots per row in `results/table1/`: `<row>_parity.png` (test points over the "
              "training labels in light blue, out-of-range points in other colours) and "
              "`<row>_loss.png`."]
    return "\n".join(lines) + "\n"


def baseline_section(r: dict) -> list[str]:
    """The classic regressors beside the CNN on the same test images."""
    b = r["baselines"]
    lines = ["", f"## Classic baselines on the raw images ({r['row']}, {r['scale']} scale)", "",
             f"Trained on {b['train']:,} flattened {r['grid']}² images ({b['features']:,} "
             f"features), scored on {b['test']:,} of the row's test images, the same ones for "
             f"the CNN (which trained on the row's {round(0.63 * r['images']):,} training "
             "images). The paper used 50,000 images at 256².", "",
             "| model | paper MAE (Å) | ours (Å) |", "|---|---|---|"]
    models = [k for k in b if k not in ("images", "train", "test", "features")]
    for title in models:
        lines.append(f"| {title} | {_paper(PAPER_BASELINES.get(title))} | {b[title]:.3g} |")
    best = min(b[k] for k in models if not k.startswith("CNN"))
    lines.append(f"\nBest baseline / CNN: **{best / b['CNN (Network 1, this row)']:.1f}×** "
                 "(the paper: 16.8×).")
    return lines


PAPER_GRID = {(32, 1): 4.99e-1, (64, 1): 1.70e-3, (128, 1): 1.06e-3, (256, 1): 1.41e-3}


def grid_section(results: list[dict], folder: Path) -> list[str]:
    """The grid study: the same dimers on each grid, and coarse images upscaled."""
    if not results:
        return []
    results = sorted(results, key=lambda r: (r["scale"], r["grid"] // r["upsample"], r["grid"]))
    lines = ["", f"## Grid study ({GRID_STUDY_ROW}, equal data on every grid)", "",
             "Command: `python -m training.experiments.table1 --scale SCALE --study grid`. "
             "Each grid trains on the same dimers; \"upscaled\" images are rasterized on the "
             "coarse grid and each pixel replicated (the paper's test). The paper's MAEs come "
             "from its own (unstated) data size.", "",
             "| scale | image | pixel area (Å²) | test MAE (ε) | test RMSE (ε) | paper MAE (ε) | "
             "images, epochs | hardware, time |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        coarse = r["grid"] // r["upsample"]
        image = f"{coarse}² upscaled to {r['grid']}²" if r["upsample"] > 1 else f"{r['grid']}²"
        paper = PAPER_GRID.get((r["grid"], r["upsample"]))
        paper_mae = _paper(paper) if r["upsample"] == 1 else "similar to native"
        lines.append(f"| {r['scale']} | {image} | {(10 / coarse) ** 2:.3g} | "
                     f"**{r['test_mae']:.3g}** | {r['test_rmse']:.3g} | {paper_mae}"
                     f" | {r['images']:,}, {r['epochs']} | {r['hardware']}, "
                     f"{r['seconds'] / 60:.0f} min |")
    plot_grid_study(results, folder)
    return lines + ["", "Figure: `results/table1/grid_study.png`."]


def plot_grid_study(results: list[dict], folder: Path) -> None:
    """Test MAE against pixels per side, native and upscaled, beside the paper's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for scale in sorted({r["scale"] for r in results}):
        native = [r for r in results if r["scale"] == scale and r["upsample"] == 1]
        ax.loglog([r["grid"] for r in native], [r["test_mae"] for r in native], "o-",
                  label=f"ours ({scale} scale)")
        for r in (r for r in results if r["scale"] == scale and r["upsample"] > 1):
            ax.loglog([r["grid"]], [r["test_mae"]], "s",
                      label=f"{r['grid'] // r['upsample']}² upscaled to {r['grid']}² ({scale})")
    ax.loglog([g for g, _ in PAPER_GRID], list(PAPER_GRID.values()), "k^--", label="paper")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("pixels per side (10 Å)")
    ax.set_ylabel("test MAE (ε)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, folder / "grid_study.png", dpi=110)


def sampling_section(done: dict) -> list[str]:
    """The sampling study: uniform in distance (the default) against uniform in energy, each
    model on its own test split and on the same two fresh test sets."""
    pairs = [(a, b) for rs in done.values() for a in rs for b in rs
             if a.get("sampling", "distance") == "distance" and b.get("sampling") == "energy"
             and a["scale"] == b["scale"] and "test_rmse" in a and "test_rmse" in b]
    if not pairs:
        return []
    lines = ["", "## Sampling study: uniform in distance against uniform in energy", "",
             "Command: add `--sampling energy` to a row's command. The paper: 20 % lower RMSE "
             "when sampled uniformly in energy (it does not say on which test set). Each model "
             "on its own test split, and on the same fresh dimers (a tenth of the training "
             "count, seed 2) drawn uniformly in distance and uniformly in energy.", "",
             "| row | scale | sampled uniformly in | RMSE, own test split | RMSE, fresh, uniform "
             "in distance | RMSE, fresh, uniform in energy |", "|---|---|---|---|---|---|"]
    for a, b in pairs:
        for r in (a, b):
            fresh = [f"{r['rmse_on'][s]:.3g} {r['unit']}" if "rmse_on" in r else "—"
                     for s in ("distance", "energy")]
            change = (f" ({100 * (r['test_rmse'] / a['test_rmse'] - 1):+.0f} %)" if r is b else "")
            lines.append(f"| {r['row']} | {r['scale']} | {r.get('sampling', 'distance')} | "
                         f"{r['test_rmse']:.3g} {r['unit']}{change} | {fresh[0]} | {fresh[1]} |")
    return lines


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--scale", choices=sorted(SCALES), default="cpu",
                    help="data and epochs: paper (the paper's; a GPU), cpu (about an hour a row "
                    "on 2 cores) or smoke (seconds, for tests)")
    ap.add_argument("--rows", nargs="+", default=[], help=f"'all' or some of: {', '.join(ROWS)}")
    ap.add_argument("--baselines", action="store_true",
                    help="also fit the classic baselines on 2d-distance-1-2's images")
    ap.add_argument("--grid", type=int, help="this grid instead of the scale's")
    ap.add_argument("--study", choices=("grid",),
                    help=f"grid: {GRID_STUDY_ROW} on every grid at equal data, and upscaled")
    ap.add_argument("--sampling", choices=("distance", "energy"), default="distance",
                    help="the sampling study: uniform in distance (the default) or in energy")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="cpu or cuda (default: the GPU when there is one)")
    ap.add_argument("--runs", type=Path, default=Path("runs/table1"),
                    help="folder for each row's data and checkpoints")
    ap.add_argument("--out", type=Path, default=Path("results/table1.md"),
                    help="Markdown table to write (each row's JSON goes to table1/ beside it)")
    ap.add_argument("--table-only", action="store_true", help="rebuild the table and plots only")


def run(args: argparse.Namespace) -> None:
    rows = list(ROWS) if args.rows == ["all"] else args.rows
    unknown = set(rows) - set(ROWS)
    if unknown:
        raise ValueError(f"unknown rows {sorted(unknown)}; choose from {', '.join(ROWS)}")
    sampled = "energy-sampled" if args.sampling == "energy" else ""
    jobs = [(name, args.grid, 1, None) for name in rows]  # row, grid, upsample, study size
    if args.study == "grid":
        jobs += [(GRID_STUDY_ROW, g, k, GRID_STUDY[args.scale])
                 for g, k in GRID_VARIANTS[args.scale]]
    for name, grid, upsample, study in [] if args.table_only else jobs:
        variant = "@".join(filter(None, [f"grid{grid}" if grid else "",
                                         f"from{grid // upsample}" if upsample > 1 else "",
                                         f"{study[0]}img" if study else "", sampled]))
        folder = args.runs / args.scale / (f"{name}@{variant}" if variant else name)
        result = run_row(name, args.scale, folder, args.device,
                         args.baselines and name == "2d-distance-1-2", grid, args.sampling,
                         upsample, study)
        write_text(args.out.parent / "table1" / args.scale / f"{folder.name}.json",
                   json.dumps(result))
    (args.out.parent / "table1").mkdir(parents=True, exist_ok=True)
    write_text(args.out, table(args.out))
    print(f"wrote {args.out}")


def main(argv: list[str] | None = None) -> int:
    """`python -m training.experiments.table1`: the same as `cnnas experiment table1`."""
    return run_module(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
