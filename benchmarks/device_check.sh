#!/usr/bin/env bash
# GPU checks in one go on a lent H100/H200 (see ../.library/device): the test suite with its
# CUDA-only tests, the numeric paths for scanning (float32, TF32, bf16, channels-last against NCHW, compile),
# the extensive model's cost against atom count, then the data throughput on the GPU. Wheels missing there (ase, sevenn and its
# needs) travel in .whl/. Results land in $OUT.
set -o pipefail
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi -L
python3 -m pytest -q -p no:cacheprovider tests 2>&1 | tee "$OUT/pytest_gpu.log" | tail -5
python3 - <<'PY' 2>&1 | tee "$OUT/tf32.log"
# what TF32 convolutions (cuDNN's default) change in the bundled model's output on this GPU
import numpy as np, torch
from ase_cnnas import CNNASCalculator
from training.structures import build_sheet
out = {}
for name, device, tf32 in (("cpu", "cpu", False), ("fp32", "cuda", False), ("tf32", "cuda", True)):
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
    atoms = build_sheet("heterostructure_pristine")
    atoms.positions[:, :2] += np.random.default_rng(3).normal(0, 0.1, (len(atoms), 2))
    atoms.calc = CNNASCalculator(device=device)
    out[name] = (atoms.get_potential_energy(), atoms.get_forces())
for name in ("fp32", "tf32"):
    de = abs(out[name][0] - out["cpu"][0]) / len(atoms) * 1e3
    df = np.abs(out[name][1] - out["cpu"][1]).max() * 1e3
    print(f"{name} on GPU vs CPU: energy {de:.4f} meV/atom, largest force difference {df:.3f} meV/A")
PY
python3 -W ignore benchmarks/numeric_paths.py --device cuda --frames 16384 --batch 1024 \
  --out "$OUT/numeric_paths_gpu.md" 2>&1 | tail -9
python3 -W ignore benchmarks/performance.py --device cuda --max-atoms 10000000 \
  --out "$OUT/performance_gpu.md" 2>&1 | tail -25
python3 -W ignore benchmarks/data_throughput.py --device cuda --workers "${WORKERS:-8}" \
  --references 7net-0@cuda ase.calculators.lj:LennardJones --seconds 10 \
  --out "$OUT/data_throughput_gpu.md" 2>&1 | grep -v "frame/s\]" | tee "$OUT/throughput_gpu.log" | tail -20
