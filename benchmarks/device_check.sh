#!/usr/bin/env bash
# GPU checks in one go on a lent H100/H200 (see ../.library/device), most wanted first, each stage
# under its own time limit so that a slow one cannot cost the rest: the CUDA tests, the scan and
# MD-step speed with the extensive model's cost up to 10⁷ atoms, then the numeric paths for
# scanning (float32, TF32, bf16, NCHW against channels-last, torch.compile); with THROUGHPUT=1 also
# the data throughput (results/data_throughput_gpu.md). Wheels missing there (ase, sevenn and its
# needs) travel in .whl/. Logs and tables land in $OUT as each stage goes.
# The working tree travels too, and may not pass 64 MiB: carry only .whl/ase-*.whl (what these
# stages need) and slim the tree for the call (`bash benchmarks/device_tree.sh slim`, then
# `restore` after).
# At most 8 files of ≤ 16 MiB, ≤ 2 folders deep, come back from $OUT: this script writes 5; a call
# that trains should tar its run folders into one archive (split below 16 MiB) and skip data files.
set -o pipefail
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi -L
# phonopy is not installed there (nor carried: compiled, with needs of its own)
timeout "${TESTS_S:-90}" python3 -m pytest -q -p no:cacheprovider -k "cuda or gpu" \
  --ignore tests/examples/test_phonons.py tests 2>&1 \
  | tee "$OUT/pytest_gpu.log" | tail -4
timeout "${PERFORMANCE_S:-200}" python3 -W ignore benchmarks/performance.py --device cuda \
  --repeats 30 --rounds 3 --scan-frames 1024 --size-repeats 2 --max-atoms 10000000 \
  --out "$OUT/performance_gpu.md" 2>&1 | tee "$OUT/performance_gpu.log" | tail -30
timeout "${NUMERIC_S:-150}" python3 -W ignore benchmarks/numeric_paths.py --device cuda \
  --frames 16384 --batch 1024 --out "$OUT/numeric_paths_gpu.md" 2>&1 | tee "$OUT/numeric_paths_gpu.log" | tail -8
if [ -n "$THROUGHPUT" ]; then
  python3 -W ignore benchmarks/data_throughput.py --device cuda --workers "${WORKERS:-8}" \
    --references 7net-0@cuda ase.calculators.lj:LennardJones --seconds 10 \
    --out "$OUT/data_throughput_gpu.md" 2>&1 | grep -v "frame/s\]" | tail -20
fi
