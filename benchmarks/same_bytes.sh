#!/usr/bin/env bash
# The byte-identity workload of a refactor: sample, tag, fit, edit variants, recipe re-application and video,
# then the sha256 of every file. Run it with two checkouts' venvs and diff the sums:
#   bash benchmarks/same_bytes.sh OLD/.venv /tmp/old && bash benchmarks/same_bytes.sh .venv /tmp/new
#   diff /tmp/old/sums.txt /tmp/new/sums.txt
set -uo pipefail
V=$(readlink -f "$1"); O=$2; rm -rf "$O"; mkdir -p "$O"; cd "$O"
L="$V/bin/python -m latentedit.cli"
export OMP_NUM_THREADS=1
run() { name=$1; shift; $L "$@" >> log.txt 2>&1; echo "$name $?" >> log.txt; }
run sample sample --n-inputs 12 --out run --seed 0
run tag tag run
run fit-svd fit-directions run --method svd
run fit-lasso-z fit-directions run --method lasso --space z
run plain edit run --add long_hair --sub short_hair --out e/plain
run coarse edit run --add long_hair --sub short_hair --layers coarse --keep smile --samples 4 --out e/coarse
run sweep edit run --add open_mouth --sub closed_mouth --sweep 0:20:3 --samples 3 --out e/sweep
run explicit edit run --add open_mouth --sub closed_mouth --strength 9 --sub-strength 2 --layers 0-3 --ids 1,5 --out e/explicit
run z edit run --add open_mouth --sub closed_mouth --method lasso --space z --samples 4 --out e/z
run hold edit run --add long_hair --sub short_hair --per-sample --hold --samples 4 --out e/hold
run auto edit run --add closed_eyes --keep auto --layers auto --samples 3 --out e/auto
run seed edit run --add blonde_hair --style-seed 3 --samples 2 --out e/seed
run rehold edit run --recipe e/hold/recipe.json --out e/rehold
run resweep edit run --recipe e/sweep/recipe.json --out e/resweep
run video video --run run --add open_mouth --sub closed_mouth --layers coarse --out e/video.mp4
find . -type f ! -name log.txt ! -name sums.txt ! -path './run/.lock*' | sort | xargs sha256sum > sums.txt
grep -v " 0$" log.txt | grep -E "^[a-z-]+ [0-9]+$" && echo "!! a step failed (see $O/log.txt)"
echo "$(wc -l < sums.txt) files hashed into $O/sums.txt"
