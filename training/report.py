"""What every results table states: the hardware it ran on and the command that regenerates it;
and how tables and figures are written: atomically, so a killed run leaves the old file whole."""
from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from pathlib import Path

import torch

from ase_cnnas.files import replace_atomically


def hardware() -> str:
    """e.g. 'x86_64, 2 CPU cores, no GPU, torch 2.13.0+cpu'."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} CPU cores, {gpu}, torch {torch.__version__}"


def command() -> str:
    """The command line that is running, as a user would type it."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec:
        head = ["python", "-m", spec.name]
    elif os.path.basename(sys.argv[0]) == "cnnas":  # the installed command
        head = ["cnnas"]
    else:
        head = ["python", os.path.relpath(sys.argv[0])]
    return shlex.join(head + sys.argv[1:])


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` atomically."""
    replace_atomically(path, lambda tmp: tmp.write_text(text))


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> None:
    """Save a matplotlib figure atomically and close it."""
    fmt = Path(path).suffix.lstrip(".") or None  # the temporary name does not tell matplotlib
    replace_atomically(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=fmt))
    import matplotlib.pyplot as plt  # here, not on top: training itself draws nothing
    plt.close(fig)


def setting_changes(had: dict, now: dict, free: tuple[str, ...] = ()) -> list[str]:
    """'--option old -> new' for each setting in `now` that `had` holds with another value,
    those in `free` aside: what a refused resume names. A key that is not an option name (it has
    a space) is named as it is; one that `had` lacks (saved before the option existed) passes."""
    def name(key: str) -> str:
        return "--" + key.replace("_", "-") if key.isidentifier() else key
    return [f"{name(key)} {had[key]!r} -> {value!r}" for key, value in now.items()
            if key in had and key not in free and had[key] != value]


def history_of(run: Path) -> list[dict]:
    """The per-epoch history of a run folder (or of the history.json named)."""
    path = run if run.suffix == ".json" else run / "history.json"
    if not path.is_file():
        raise SystemExit(f"{run}: no history.json; name a run folder that `cnnas train` finished")
    return json.loads(path.read_text())


def learning_curves(histories: dict[str, list[dict]], chained: bool = False):
    """A matplotlib figure: each named training history's validation MAE per epoch (the
    history.json `cnnas train` writes), on a log axis so that diverging runs fit beside the rest.
    `chained`: the runs are rounds, each starting from the one before, drawn one after another."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    start = 0
    for name, history in histories.items():
        ax.semilogy([start + h["epoch"] for h in history], [h["val_mae"] for h in history], ".-",
                    label=name)
        start += history[-1]["epoch"] if chained else 0
    ax.set_xlabel("epoch, counted over the rounds" if chained else "epoch")
    ax.set_ylabel("validation energy MAE (meV/atom, raw network)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
