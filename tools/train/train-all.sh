#!/usr/bin/env bash
# Retrains every embedded model in pipelines/models/ from scratch (see pipelines/models/README.md):
# data sources, vocabularies, the masked LM, then the models fine-tuned from it and GPT-2 side by side.
# Each training stops after its wall-clock budget (minutes, first argument of each script); all run at the
# lowest priority on one thread each, so the machine stays usable.
set -euo pipefail
cd "$(dirname "$0")"
py="nice -n 19 ${PYTHON:-/work/pyenv/bin/python}"
bash prepare.sh
$py tokenizers_train.py
$py eval_sets.py
$py mlm.py 20
pids=()
for script in embedder sentiment ner qa gpt2; do
  $py "$script.py" 20 > "${ATTNFLOW_TRAIN_CACHE:-/tmp/attnflow-train}/$script.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
$py reference.py
