#!/usr/bin/env bash
# Fine-tune a model file on a lent H100/H200 (see ../.library/device) in one call: four runs side
# by side on the one GPU (its own width at batch 64; 64 filters at batch 16, 64 and 128, the rate
# growing with the batch), each on the production recipe with a linear warm-up and under a time
# budget of HOURS (cnnas train --hours: the epochs that fit, the rate decayed over them), while
# the CUDA tests run; then each run's best.pt is
# scored on the GPU (cnnas evaluate --symmetrize: the test split and the three unseen sets). Each
# best.pt comes back as its own file ($OUT/RUN/best.pt), the reports, logs and histories in one
# archive ($OUT/runs.tgz).
#     INIT=results/models/wide32/best.pt HOURS=0.1 bash benchmarks/device_finetune.sh
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
recipe="--data ${DATA:-datasets/sheets_30k_1000K.h5} --split trajectory --clip 20 --translate
  --mirror --force-weight 1 --ema 0.999 --seed ${SEED:-7} --init $init --device $device
  --hours ${HOURS:-0.1} --epochs 200"
runs=(w_b64 w64_b16 w64_b64 w64_b128)
options=("--batch 64 --lr 4e-4 --warmup 300" "--filters 64 --batch 16 --lr 2e-4 --warmup 1000"
         "--filters 64 --batch 64 --lr 4e-4 --warmup 300"
         "--filters 64 --batch 128 --lr 6e-4 --warmup 150")
for i in "${!runs[@]}"; do
  timeout "${TRAIN_S:-420}" $py -W ignore -m training.train $recipe ${options[$i]} --out "/tmp/runs/${runs[$i]}" \
    > "/tmp/runs_${runs[$i]}.log" 2>&1 &
done
if [ "$device" = cuda ]; then
  timeout 120 $py -m pytest -q -p no:cacheprovider -k "cuda or gpu" \
    --ignore tests/examples/test_phonons.py tests > /tmp/runs_pytest.log 2>&1
  tail -3 /tmp/runs_pytest.log
fi
while [ -n "$(jobs -r)" ]; do
  sleep 30
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null
  for r in "${runs[@]}"; do
    printf '%s: %s\n' "$r" "$(tail -c 300 "/tmp/runs_$r.log" | tr '\r' '\n' | grep . | tail -1)"
  done
done
for r in "${runs[@]}"; do
  timeout "${EVALUATE_S:-150}" $py -W ignore -m training.evaluate --model "/tmp/runs/$r/best.pt" \
    --data "${DATA:-datasets/sheets_30k_1000K.h5}" --symmetrize --device "$device" \
    --unseen datasets/hbn_unseen_1000K.h5 datasets/heterostructure_vacancy_1000K.h5 \
    datasets/graphene_stone_wales_1200K.h5 --out "/tmp/runs/$r/evaluate.md" \
    > "/tmp/runs/$r/evaluate.log" 2>&1 &
done
wait
for r in "${runs[@]}"; do
  grep -A7 "^| set | frames" "/tmp/runs/$r/evaluate.md" | sed "s/^/$r /"
  mkdir -p "$out/$r" && cp "/tmp/runs/$r/best.pt" "$out/$r/" 2>/dev/null
  cp "/tmp/runs_$r.log" "/tmp/runs/$r/train.log"
done
cp /tmp/runs_pytest.log /tmp/runs/ 2>/dev/null
tar -czf "$out/runs.tgz" -C /tmp/runs --exclude checkpoint.pt --exclude best.pt .
ls -la "$out"/*
