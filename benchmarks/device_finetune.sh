#!/usr/bin/env bash
# Fine-tune a model file on a lent H100/H200 (see ../.library/device) in one call: the runs in RUNS
# side by side on the one GPU, each on the production recipe under a time budget of HOURS (cnnas
# train --hours: the epochs that fit, the rate decayed over them); then each run's best.pt is
# scored on the GPU (cnnas evaluate --symmetrize: the test split and the three unseen sets) while
# the CUDA tests run. Each best.pt comes back as its own file ($OUT/RUN/best.pt) as soon as its
# training ends, the reports, logs and histories in one archive ($OUT/runs.tgz).
#     INIT=results/models/wide32/best.pt HOURS=0.1 bash benchmarks/device_finetune.sh
# RUNS lists "name=options" entries split by ";"; the default is round 1's four (its own width at
# batch 64; 64 filters at batch 16, 64 and 128, the rate growing with the batch). One run alone:
#     RUNS="w64_r3=--batch 16 --lr 1e-4 --warmup 1000" INIT=... bash benchmarks/device_finetune.sh
# The working tree travels and may not pass 64 MiB: run `bash benchmarks/device_tree.sh slim`
# before the call and `... restore` after it, and carry only .whl/ase-*.whl. Results of a call:
# results/gpu_finetune/.
set -o pipefail
export PYTHONUNBUFFERED=1
init=${INIT:?name the model file to fine-tune in INIT}
device=${DEVICE:-cuda}
out=${OUT:?set OUT, the folder that comes back}
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD
py=${PYTHON:-python3}
$py -c "import ase, h5py, torch; print('torch', torch.__version__, torch.cuda.is_available())" || exit 1
nvidia-smi -L 2>/dev/null
data=${DATA:-datasets/sheets_30k_1000K.h5}
recipe="--data $data --split trajectory --clip 20 --translate --mirror --force-weight 1 --ema 0.999
  --seed ${SEED:-7} --init $init --device $device --hours ${HOURS:-0.1} --epochs 200"
IFS=';' read -r -a entries <<< "${RUNS:-w_b64=--batch 64 --lr 4e-4 --warmup 300;w64_b16=--filters 64 --batch 16 --lr 2e-4 --warmup 1000;w64_b64=--filters 64 --batch 64 --lr 4e-4 --warmup 300;w64_b128=--filters 64 --batch 128 --lr 6e-4 --warmup 150}"
runs=()
for entry in "${entries[@]}"; do
  r=${entry%%=*}
  runs+=("$r")
  ( timeout "${TRAIN_S:-420}" $py -W ignore -m training.train $recipe ${entry#*=} --out "/tmp/runs/$r" \
      > "/tmp/runs_$r.log" 2>&1
    mkdir -p "$out/$r" && cp "/tmp/runs/$r/best.pt" "$out/$r/" ) &
done
while [ -n "$(jobs -r)" ]; do
  sleep 30
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null
  for r in "${runs[@]}"; do
    printf '%s: %s\n' "$r" "$(tail -c 300 "/tmp/runs_$r.log" | tr '\r' '\n' | grep -a . | tail -1)"
  done
done
for r in "${runs[@]}"; do
  timeout "${EVALUATE_S:-150}" $py -W ignore -m training.evaluate --model "/tmp/runs/$r/best.pt" \
    --data "$data" --symmetrize --device "$device" \
    --unseen datasets/hbn_unseen_1000K.h5 datasets/heterostructure_vacancy_1000K.h5 \
    datasets/graphene_stone_wales_1200K.h5 --out "/tmp/runs/$r/evaluate.md" \
    > "/tmp/runs/$r/evaluate.log" 2>&1 &
done
if [ "$device" = cuda ]; then
  timeout "${TESTS_S:-120}" $py -m pytest -q -p no:cacheprovider -k "cuda or gpu" \
    --ignore tests/examples/test_phonons.py tests > /tmp/runs/pytest.log 2>&1
  tail -3 /tmp/runs/pytest.log
fi
wait
for r in "${runs[@]}"; do
  grep -A7 "^| set | frames" "/tmp/runs/$r/evaluate.md" | sed "s/^/$r /"
  cp "/tmp/runs_$r.log" "/tmp/runs/$r/train.log"
done
tar -czf "$out/runs.tgz" -C /tmp/runs --exclude checkpoint.pt --exclude best.pt .
ls -la "$out"/*
