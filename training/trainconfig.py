"""TrainConfig: every setting of a training run, checked once; `cnnas train`'s options."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ase_cnnas.cells import MATCH
from ase_cnnas.heights import SLAB_HALF
from ase_cnnas.networks import ACTIVATIONS, HEADS, PADDINGS, REDUCING

from .cli import option
from .modelbuild import NETWORKS, REFERENCES

SCHEDULES = ("cosine", "constant")
MODEL_OPTIONS = ("grid", "activation", "reductions", "head", "padding", "copies", "counts",
                 "network", "upsample", "reference", "scale_target")  # what --init replaces


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run; `cnnas train` takes each as `--field-name`. Saved as the
    run folder's settings.json, which a rerun must match to resume (budgets and device aside)."""

    data: Path = field(metadata={"help": "HDF5 frames file (from `cnnas data import`, `sheets` "
                                 "or `dimers`)"})
    out: Path = field(metadata={"help": "run folder: settings.json, checkpoint.pt (a rerun resumes "
                                "from it), best.pt (the best model file), history.json"})
    grid: int = option(64, "image size, pixels per side")
    epochs: int = option(200, "passes over the training frames (the most, under --hours)")
    batch: int = option(32, "frames per optimiser step")
    lr: float = option(3e-4, "Adam's learning rate at the start of the schedule")
    activation: str = option("silu", "nonlinearity after each layer", choices=tuple(ACTIVATIONS))
    reductions: int | None = option(None, "reducing (stride-2) layers Network 2 keeps (default: "
                                     "as many as bring the image down to 8-15 pixels a side)")
    head: str = option("flatten", "flatten: the paper's dense head on all pixels; pool: on their "
                        "mean; pixel: an energy per pixel, summed", choices=HEADS)
    padding: str = option("zeros", "convolution padding: zeros (the paper's) or circular (exactly "
                           "periodic)", choices=PADDINGS)
    copies: bool = option(True, "Network 2's four shifted copies of the image (--no-copies: one)")
    counts: bool = option(False, "feed the element counts to the head")
    translate: bool = option(False, "shift every training frame by a random in-plane translation")
    mirror: bool = option(False, "reflect every training frame at random through x, y or both "
                           "(rectangular cells: the reflections that map the cell onto itself)")
    force_weight: float = option(0.0, "weight of the force loss beside the energy loss "
                                  "(0: energies only, as in the paper)")
    energyless_weight: float = option(1.0, "weight of the force errors of the training frames "
                                       "that have no energy (NaN: e.g. another teacher's "
                                       "frames, whose energy zero differs), against the "
                                       "others'; such frames train on their forces alone")
    random_repeats: bool = option(False, "with --match-pixels, lay each training frame at "
                                  "random on the fewest side repeats whose pixels match or on "
                                  "the fewest that is no multiple of those (other pixels), so "
                                  "that the network learns one energy for a sheet on either grid")
    stress_weight: float = option(0.0, "weight of the loss on the in-plane stress (xx, yy, xy, "
                                   "as virial per atom) of the frames labelled with one "
                                   "(`cnnas data label --stress`); it pins the strain energy, "
                                   "which forces do not see")
    energy_per_atom: float = option(0.0, "weight each frame's energy error by (mean atom count "
                                    "/ its own)^P: 1 (the flag alone) fits energies per atom, so "
                                    "that a 2-atom cell counts as much as a large one; 0 total "
                                    "energies, which favour the large cells; between, a blend",
                                    const=1.0)
    seed: int = option(0, "seed of the initialisation, of the batches and of a random split")
    split: str = option("random", "split stored in the data file (`cnnas data split`); 'random' "
                         "falls back to the paper's seeded 70/30 split")
    network: str = option("network2", "network1: the paper's dimer network; network2: its sheet "
                           "network", choices=tuple(sorted(NETWORKS)))
    target: str = option("energy", "what to learn: energy (eV), or a label stored in the file "
                          "(e.g. distance)")
    upsample: int = option(1, "rasterize at grid/UPSAMPLE pixels a side and replicate each pixel "
                            "(the paper's test)")
    device: str = option("cpu", "torch device: cpu, cuda, cuda:1, ... (the CLI's default: cuda "
                          "when there is one)")
    max_hours: float | None = option(None, "stop (resumably) after this many hours of training")
    patience: int | None = option(None, "stop when validation has not improved for this many "
                                   "epochs")
    reference: str = option("elements", "subtract fitted per-element energies (elements) or one "
                             "mean energy per atom (mean)", choices=REFERENCES)
    scale_target: bool = option(True, "learn the target in units of its spread (--no-scale-target"
                                 ", formerly --no-target-scaling: in eV, or the label's unit)",
                                 off_alias="--no-target-scaling")
    schedule: str = option("cosine", "learning rate: cosine decay to lr/100 over the epochs, or "
                            "constant", choices=SCHEDULES)
    clip: float | None = option(None, "clip the gradient norm of the scaled loss to this (the "
                                 "history records each epoch's median and largest norm, and the "
                                 "share of clipped steps)")
    init: str | Path | None = field(default=None, metadata={"help": (
        "fine-tune: start from this model file (or 'default', the bundled model); its network "
        "and references replace " + ", ".join("--" + k.replace("_", "-") for k in MODEL_OPTIONS))})
    ema: float | None = option(None, "validate and save an exponential moving average of the "
                                "weights, with this decay per step (e.g. 0.999: an average over "
                                "about the last 1,000 steps)")
    filters: int | None = option(None, "filters of each non-reducing layer (default: the paper's "
                                  "16; 32: more capacity, about twice the time per step); with "
                                  "--init, widens the file's network to this many, starting from "
                                  "exactly what it computes")
    hours: float | None = option(None, "time budget in hours: after the first epoch, keep only "
                                  "the epochs that fit (--epochs at most) and decay the learning "
                                  "rate over them")
    warmup: int = option(0, "ramp the learning rate up linearly over this many first steps (for "
                          "--init: fresh Adam steps otherwise throw the model's energies off)")
    heights: bool = option(False, "images with height channels, each atom's height above its "
                            "in-plane neighbours, for free-standing sheets; with --init, a flat "
                            "model gains them, starting near what it computes")
    height_layers: int = option(0, "with --heights: a thin slab of this many layers of the "
                                f"height above the neighbours (soft bins over ±{SLAB_HALF} Å) "
                                "instead of the (Z, Zu, Zu²) channels")
    near_heights: float = option(0.0, "with --heights: two more channels of each atom's height "
                                  "above its neighbours within this radius (Å, e.g. 2: the "
                                  "first shell), so that the energy can weigh the nearest "
                                  "neighbours' heights apart from farther ones; with --init, "
                                  "added starting near what the model computes")
    odd_kernel: int = option(0, "with --heights: the first layer reads the heights through a "
                             "kernel this many pixels wide (e.g. 11, a bond's two ends at 0.2 Å "
                             "a pixel) instead of 3, so that it sees neighbouring atoms' heights "
                             "together; with --init, widened starting from what the model "
                             "computes")
    slopes: bool = option(False, "with --heights: the first layer also reads each atom's mean "
                          "squared height difference to its neighbours, a slope that the "
                          "heights (a curvature) cannot see and through which a stretched "
                          "sheet's tension acts on long waves; with --init, added at zero")
    any_cell: bool = option(False, "take any sheet cell: each frame rotated, an oblique cell made "
                             "rectangular, n = round(L/Δ) pixels a side (pixel head, circular "
                             "padding); with --init, the file's model becomes one")
    match_pixels: bool = option(False, "with --any-cell: repeat each cell side until its "
                                 "pixels are within --match-tolerance of the model's (a side "
                                 "laid on other pixels looks strained to the network); with "
                                 "--init, the file's model starts to")
    match_tolerance: float = option(MATCH, "with --match-pixels: how close the pixels must "
                                     "match, as a fraction (tighter: larger supercells of "
                                     "small cells, slower)")
    stretch_inputs: bool = option(False, "with --any-cell: feed the head each side's pixel "
                                   "stretch against the model's spacing, so that it sees a "
                                   "strain that leaves the pixel count unchanged; with --init, "
                                   "added with zero weights")
    stretch_response: bool = option(False, "with --any-cell: the head also gives each pixel's "
                                     "energy change with each side's pixel stretch, added times "
                                     "the stretch (a first-order correction of the strain the "
                                     "grid imposes); with --init, added at zero")
    train_layers: int | None = option(None, "train only the network's last N weight layers "
                                       "(convolutions and the head's two dense layers; with "
                                       "--init: fine-tune on few frames without unlearning the "
                                       "rest); default: all")
    refit_elements: bool = option(False, "with --init: shift the file's per-element energies "
                                   "by a least-squares fit of its errors on the training frames "
                                   "(data with another energy zero: GPAW, another code or "
                                   "functional)")

    def __post_init__(self) -> None:
        """Paths as Path; settings no run can use refused, naming the option and what to give."""
        object.__setattr__(self, "data", Path(self.data))
        object.__setattr__(self, "out", Path(self.out))
        for f in fields(self):
            value, choices = getattr(self, f.name), f.metadata.get("choices")
            if choices and value not in choices:
                raise ValueError(f"--{f.name.replace('_', '-')} {value!r}: use one of "
                                 + ", ".join(choices))
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"--patience {self.patience}: give at least 1 epoch")
        if self.clip is not None and not self.clip > 0:
            raise ValueError(f"--clip {self.clip}: give a positive gradient norm, or leave it out")
        if self.ema is not None and not 0 < self.ema < 1:
            raise ValueError(f"--ema {self.ema}: give a decay per step between 0 and 1 "
                             "(e.g. 0.999)")
        if self.warmup < 0:
            raise ValueError(f"--warmup {self.warmup}: give a number of steps, 0 or more")
        if self.height_layers and (self.height_layers < 2 or not self.heights):
            raise ValueError(f"--height-layers {self.height_layers}: give 2 or more, with "
                             "--heights")
        if self.near_heights and (self.near_heights < 0 or not self.heights
                                  or self.height_layers):
            raise ValueError(f"--near-heights {self.near_heights}: give a positive radius (Å), "
                             "with --heights and without --height-layers")
        if self.odd_kernel and (self.odd_kernel < REDUCING[1] or not self.heights
                                or self.height_layers):
            raise ValueError(f"--odd-kernel {self.odd_kernel}: give {REDUCING[1]} pixels or "
                             "more, with --heights and without --height-layers")
        if self.slopes and (not self.heights or self.height_layers):
            raise ValueError("--slopes: with --heights and without --height-layers")
        if self.train_layers is not None and self.train_layers < 1:
            raise ValueError(f"--train-layers {self.train_layers}: give 1 or more, or leave it "
                             "out to train all layers")
        if self.stretch_inputs and not self.any_cell:
            raise ValueError("--stretch-inputs is for an any-cell model: add --any-cell")
        if self.stretch_response and not self.any_cell:
            raise ValueError("--stretch-response is for an any-cell model: add --any-cell")
        if self.stretch_inputs and self.counts:
            raise ValueError("--stretch-inputs and --counts both feed the head: choose one")
        if not 0 < self.match_tolerance < 0.5:
            raise ValueError(f"--match-tolerance {self.match_tolerance}: give a fraction between "
                             "0 and 0.5, e.g. 0.004")
        if self.hours is not None and not self.hours > 0:
            raise ValueError(f"--hours {self.hours}: give a positive time budget, or leave it out")
        if not 0 <= self.energy_per_atom <= 1:
            raise ValueError(f"--energy-per-atom {self.energy_per_atom}: give a power between 0 "
                             "(total energies) and 1 (per atom)")
        if self.target != "energy" and self.energy_per_atom:
            raise ValueError(f"--energy-per-atom needs an energy target, not {self.target!r}")
        if self.random_repeats and not self.match_pixels:
            raise ValueError("--random-repeats draws among repeats whose pixels match: add "
                             "--match-pixels")
        if self.target != "energy" and self.stress_weight > 0:
            raise ValueError(f"stress matching needs an energy target, not {self.target!r}; "
                             "drop --stress-weight")
        if self.energyless_weight < 0:
            raise ValueError(f"--energyless-weight {self.energyless_weight}: give 0 or more")
        if self.target != "energy" and self.force_weight > 0:
            raise ValueError(f"force matching needs an energy target, not {self.target!r}; "
                             "drop --force-weight")

    @property
    def pixel_tolerance(self) -> float:
        """The model's pixel-matching tolerance: --match-tolerance with --match-pixels, else 0."""
        return self.match_tolerance if self.match_pixels else 0.0

    def settings(self) -> dict:
        """What the run records (settings.json, the model file) and resumes only with: every
        field, paths as text, less the model options an --init file replaces."""
        unused = MODEL_OPTIONS if self.init is not None else ()
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()
                if k not in unused}
