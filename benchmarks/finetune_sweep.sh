#!/usr/bin/env bash
# Several variants of the PBE fine-tune at once, one `cnnas experiment finetune` process each,
# sharing one GPU (or a CPU's cores): the recipe of results/models/free_pbe_pa302 on all eight
# PBE training files, each variant adding its own options. Each run lands in runs/sweep/NAME
# (resumable) with its table runs/sweep/NAME.md; the run folders' model files and tables are
# packed into ${OUT:-runs/sweep}/sweep.tar.gz.00, .01… (parts of 15 MiB, as a lent GPU machine
# hands files back; unpack with `cat sweep.tar.gz.* | tar xz`).
#
#   benchmarks/finetune_sweep.sh HOURS 'NAME OPTIONS…' ['NAME OPTIONS…' …]
#   benchmarks/finetune_sweep.sh 0.12 'p0 --energy-per-atom 0' 'p05 --energy-per-atom 0.5'
#
# HOURS is each run's time budget (its schedule keeps the epochs that fit, --hours). PYTHON
# names the interpreter (default python3), STEPS the optimiser steps (default 1200).
set -euo pipefail
cd "$(dirname "$0")/.."
hours=$1
shift
python=${PYTHON:-python3}
threads=$(( $(nproc) / $# ))
frames=294  # trained on; 8 more pick the epoch: the 302 frames of the files below
data=(datasets/pbe_small_1000K.h5 datasets/pbe_small_300K.h5 datasets/pbe_strain_1000K.h5
      datasets/pbe_strain2_1000K.h5 datasets/pbe_strain3_1000K.h5
      datasets/pbe_small_more_1000K.h5 datasets/pbe_strain3_more_1000K.h5
      datasets/pbe_strain4_1000K.h5)
mkdir -p runs/sweep
for variant in "$@"; do
    read -r name options <<< "$variant"
    # shellcheck disable=SC2086  # the variant's options are words
    OMP_NUM_THREADS=$(( threads > 0 ? threads : 1 )) PYTHONUNBUFFERED=1 \
        "$python" -m training.experiments.finetune --data "${data[@]}" \
        --validation datasets/pbe_val_1000K.h5 datasets/pbe_val_flat_1000K.h5 \
        --init results/models/free_stage2/best.pt --match-pixels --force-weight 0.05 \
        --select 8 --frames "$frames" --steps "${STEPS:-1200}" --lr 3e-4 --references \
        --hours "$hours" $options --runs "runs/sweep/$name" --out "runs/sweep/$name.md" \
        > "runs/sweep/$name.log" 2>&1 &
done
status=0
wait || status=$?
for variant in "$@"; do
    read -r name _ <<< "$variant"
    echo "== $name"
    tail -n 4 "runs/sweep/$name.log"
done
out=${OUT:-runs/sweep}
mkdir -p "$out"
(cd runs/sweep && tar czf - --ignore-failed-read ./*.md ./*.log ./*/n$frames/best.pt \
    ./*/n$frames/history.json ./*/n$frames/settings.json) | split -b 15M -d - "$out/sweep.tar.gz."
exit $status
