#!/usr/bin/env bash
# Short free-standing MD runs of the 60-atom graphene sheet from several seeds, one calculator:
# an ensemble of starts, since one run's ⟨h²⟩ hangs on the few longest flexural waves' share of
# the random start (examples/md_free.py). Each run lands in ${OUT}/seedN (resumable; a finished
# run is skipped); `python examples/md_free.py ensemble --out ${OUT}` compares the calculators.
#
#   benchmarks/md_ensemble.sh CALCULATOR TEMPERATURE SEED [SEED …]
#   benchmarks/md_ensemble.sh 7net-0 1000 1 2 3
#   benchmarks/md_ensemble.sh cnnas 1000 $(seq 1 12)
#
# PS is each run's length (default 2.5), EQUILIBRATE the part not sampled (default 0.5), FRICTION
# a Langevin thermostat's friction per fs (default 0: NVE), OUT the folder (default
# results/md_ensemble), PYTHON the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
calc=$1
temperature=$2
shift 2
out=${OUT:-results/md_ensemble}
for seed in "$@"; do
    done_file="$out/seed$seed/graphene_pristine_${temperature}K_$calc.json"
    [[ -f $done_file ]] && continue
    OMP_NUM_THREADS=1 "${PYTHON:-python3}" examples/md_free.py run --calculator "$calc" \
        --structure graphene_pristine --temperature "$temperature" --ps "${PS:-2.5}" \
        --equilibrate "${EQUILIBRATE:-0.5}" --friction "${FRICTION:-0}" --timestep 1.0 \
        --seed "$seed" --out "$out/seed$seed"
done
