#!/usr/bin/env bash
# Slim the working tree that travels to a lent GPU machine (../.library/device: at most 64 MiB,
# tracked files included, carried wheels counted) by taking out of the index the files that no
# GPU call needs, and put them back afterwards:
#     bash benchmarks/device_tree.sh slim [PATH...]  # before the device calls; PATHs: more to leave out
#     bash benchmarks/device_tree.sh restore         # after them, before any commit
# Between the two the index lacks these files: a commit then would delete them. Of the committed
# model files under results/models only those KEEP names stay (default: free_stage2, the start of
# the PBE fine-tunes); the large pretraining data files and results/table1 leave too. Carrying
# two model files back for a second round needs room: name the bundled ase_cnnas/models/*.pt,
# unused by training, as extra PATHs.
set -euo pipefail
state=.git/device_tree_slim  # the paths taken out, for restore
mkdir -p .git/info && touch .git/info/exclude
case "${1:-}" in
  slim)
    keep=" ${KEEP:-free_stage2} "
    paths=(results/table1 datasets/sheets_1000K.h5 datasets/sheets_30k_1000K.h5
           datasets/free_1000K.h5 datasets/free_300K.h5 datasets/free_1500K.h5 "${@:2}")
    for d in results/models/*/; do
      d=${d%/}
      [[ $keep == *" ${d##*/} "* ]] || paths+=("$d")
    done
    [ ! -s "$state" ] || { echo "the tree is slim already: restore it first" >&2; exit 1; }
    git diff --cached --quiet -- "${paths[@]}" || {  # restore brings back what HEAD holds
      echo "staged changes under these paths: commit them first" >&2; exit 1; }
    git rm -r -q --cached "${paths[@]}"
    printf '%s\n' "${paths[@]}" > "$state"
    for p in "${paths[@]}"; do grep -qxF "/$p" .git/info/exclude || echo "/$p" >> .git/info/exclude; done ;;
  restore)
    [ -s "$state" ] || { echo "nothing to restore: the tree is not slim" >&2; exit 1; }
    mapfile -t paths < <(sort -u "$state")
    git restore --staged "${paths[@]}"
    for p in "${paths[@]}"; do sed -i "\|^/$p\$|d" .git/info/exclude; done
    rm "$state" ;;
  *)
    echo "usage: bash benchmarks/device_tree.sh slim [PATH...] | restore" >&2
    exit 2 ;;
esac
git ls-files -z | xargs -0 du -cb | tail -1 | awk '{printf "tracked files: %.1f MiB (64 MiB travel, carried paths included)\n", $1 / 2^20}'
