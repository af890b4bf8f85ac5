#!/usr/bin/env bash
# Slim the working tree that travels to a lent GPU machine (../.library/device: at most 64 MiB,
# tracked files included, carried wheels counted) by taking out of the index the files that no
# GPU call needs, and put them back afterwards:
#     bash benchmarks/device_tree.sh slim      # before the device calls
#     bash benchmarks/device_tree.sh restore   # after them, before any commit
# Between the two the index lacks these files: a commit then would delete them. Of the committed
# model files only the last round's, results/models/w64_r5, stays: to fine-tune an earlier one,
# carry it (an ignored path while slim).
set -euo pipefail
paths=(results/table1 datasets/sheets_1000K.h5 results/models/production60
       results/models/default_finetuned results/models/narrow12 results/models/finetune_ema
       results/models/wide32 results/models/w64_gpu)
case "${1:-}" in
  slim)
    git rm -r -q --cached "${paths[@]}"
    for p in "${paths[@]}"; do grep -qxF "/$p" .git/info/exclude || echo "/$p" >> .git/info/exclude; done ;;
  restore)
    git restore --staged "${paths[@]}"
    for p in "${paths[@]}"; do sed -i "\|^/$p\$|d" .git/info/exclude; done ;;
  *)
    echo "usage: bash benchmarks/device_tree.sh slim|restore" >&2
    exit 2 ;;
esac
git ls-files -z | xargs -0 du -cb | tail -1 | awk '{printf "tracked files: %.1f MiB (64 MiB travel, carried paths included)\n", $1 / 2^20}'
