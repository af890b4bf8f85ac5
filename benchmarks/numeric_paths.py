r"""Which numeric path to take on a GPU: float32, TF32, bf16 autocast (network only; the
rasterizer stays float32), the plain NCHW layout against the networks' channels-last one, and
torch.compile. For each: batched scan throughput
(60-atom frames per second, energies only and with forces) and the error it adds against the
same model in float64 on the CPU (energy per atom, largest force component).

    python benchmarks/numeric_paths.py --device cuda --frames 8192 --batch 1024 \
        --out results/numeric_paths_gpu.md
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
from performance import frames as sheets  # noqa: E402

from ase_cnnas.modelfile import load_model  # noqa: E402
from ase_cnnas.scan import predict_arrays  # noqa: E402
from training.report import command, hardware, write_text  # noqa: E402

VARIANTS = ("float32", "TF32", "bf16 autocast", "NCHW + TF32", "torch.compile + TF32")


class Autocast(torch.nn.Module):
    """The network under autocast to `dtype`, its output back in float32."""

    def __init__(self, network: torch.nn.Module, device: str, dtype: torch.dtype):
        super().__init__()
        self.inner, self.device_type, self.dtype = network, torch.device(device).type, dtype
        self.config = network.config

    def forward(self, images, extra=None):
        with torch.autocast(self.device_type, dtype=self.dtype):
            return self.inner(images, extra).float()


def variant(name: str, device: str):
    """The flat model (the 2D default when this was measured) set up for `name` on `device`."""
    tf32 = "TF32" in name
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    model = load_model("flat", device)
    if name == "bf16 autocast":
        model.network = Autocast(model.network, device, torch.bfloat16)
    elif name.startswith("NCHW"):
        model.network = model.network.to(memory_format=torch.contiguous_format)
    elif name.startswith("torch.compile"):
        model.network = torch.compile(model.network)
    return model


def arrays(frames: list) -> tuple:
    return (np.concatenate([a.positions for a in frames]),
            np.concatenate([a.numbers for a in frames]),
            np.array([a.cell.array for a in frames]), np.array([len(a) for a in frames]))


def rate(model, data: tuple, batch: int, forces: bool, device: str) -> float:
    predict_arrays(model, *[d[:batch * 60] if i < 2 else d[:batch] for i, d in enumerate(data)],
                   batch=batch, forces=forces)  # warm-up (and compilation)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    predict_arrays(model, *data, batch=batch, forces=forces)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return len(data[3]) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--frames", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "numeric_paths.md")
    args = ap.parse_args()
    test = sheets(args.frames)
    data = arrays(test)
    check = arrays(test[:64])
    reference = copy.deepcopy(load_model("flat", "cpu")).double()
    e_ref, f_ref = predict_arrays(reference, *check, batch=64, forces=True)
    lines = ["# Numeric paths for scanning", "", f"Regenerate: `{command()}`  ",
             f"Hardware: {hardware()}, device {args.device}", "",
             f"Bundled flat model (64² grid), {args.frames} frames of 60 atoms, batch "
             f"{args.batch}; errors over 64 frames against the same model in float64 on the CPU.",
             "", "| path | frames/s, energies | frames/s, energies + forces | energy error, max "
             "(meV/atom) | force error, max (meV/Å) |", "|---|---|---|---|---|"]
    for name in args.variants:
        model = variant(name, args.device)
        e, f = predict_arrays(model, *check, batch=64, forces=True)
        de = (np.abs(e - e_ref) / check[3]).max() * 1e3
        df = np.abs(f - f_ref).max() * 1e3
        lines.append(f"| {name} | {rate(model, data, args.batch, False, args.device):,.0f} | "
                     f"{rate(model, data, args.batch, True, args.device):,.0f} | "
                     f"{de:.4f} | {df:.2f} |")
        print(lines[-1], flush=True)
    write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
