#!/usr/bin/env bash
# Meta-train memory transforms, then score them on the development parts, in one run (a GPU run fits in minutes).
#
#   bash benchmarks/train_eval.sh CONFIG OUT [TRAIN_SECONDS]      # OUT: a folder for logs, results and the transforms
#   QUICK=1 bash benchmarks/train_eval.sh ...                      # 4 questions a set: a smoke run, judges nothing
#
# Results: OUT/prose-dev.json, OUT/tech-dev.json (benchmarks/eval_sets.py), OUT/synthetic.json (doc2lora eval on the
# synthetic held-out split, 2 questions a document), OUT/train.log, and the final transforms (OUT/transforms.*).
# Only development parts: the test parts are for reporting a generator once it has been chosen.
set -uo pipefail
cfg=$1; out=$2; budget=${3:-}
py=${PYTHON:-python}
threads=${THREADS:-$(nproc)}
mkdir -p "$out"
run=$($py -c "import json,sys; print(json.load(open(sys.argv[1]))['out_dir'])" "$cfg")
quick=(); limit=()
if [[ -n "${QUICK:-}" ]]; then quick=(--quick); limit=(--limit 4); fi
$py -m doc2lora_rag train --config "$cfg" ${budget:+--time-budget "$budget"} --quiet 2>&1 | tee "$out/train.log" || exit 1
cp "$run"/final/transforms.json "$run"/final/transforms.safetensors "$out"/
for set in prose tech; do
  $py benchmarks/eval_sets.py "data/eval/$set" --part dev --modes adapter --transforms "$run/final" --dtype float32 \
      --threads "$threads" "${quick[@]}" --out "$out/$set-dev.json" 2>&1 | grep -v "^\s*$" | tail -3
done
$py -m doc2lora_rag eval data/heldout/qa.jsonl --docs data/heldout/docs --per-doc 2 --generator memory \
    --generator-path "$run/final" --mode adapter "${limit[@]}" --json > "$out/synthetic.json" && \
  $py -c "import json,sys; r=json.load(open(sys.argv[1])); print('synthetic held-out', {k: v for k, v in r.items() if k != 'rows'} if isinstance(r, dict) else r)" "$out/synthetic.json"
if [[ -z "${QUICK:-}" ]]; then  # where prose answers are lost with these transforms: stored or not, gold key ranks
  $py benchmarks/memory_diagnose.py data/eval/prose --part dev --transforms "$run/final" --threads "$threads" \
      --predictions "$out/prose-dev.json" 2>&1 | grep -v "Loading weights"
fi
