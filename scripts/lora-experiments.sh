#!/usr/bin/env bash
# The LoRA batching experiments of docs/experiments.md: unmerged, merged and dlora on the same
# trace for each adapter-popularity workload, on the SmolLM2-135M shape (random BF16 weights),
# then one table and two plots across workloads. Usage: scripts/lora-experiments.sh [DURATION] [RATE]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-15}
rate=${2:-14}
out=${LORA_EXP_OUT:-/tmp/lora-experiments}
model=$out/smollm2-135m
# LORASERVE_CLI="dotnet path/to/loraserve.dll" runs a build made elsewhere instead of dotnet run.
if [ -n "${LORASERVE_CLI:-}" ]; then read -r -a cli <<< "$LORASERVE_CLI"; else cli=(dotnet run -c Release --project src/LoraServe.Cli --); fi
mkdir -p "$out"
[ -f "$model/config.json" ] || "${cli[@]}" create-model --shape smollm2-135m --dtype BF16 --out "$model"
common=(--model "$model" --duration "$duration" --rate "$rate" --prompt-len 32 --output-len 32 --adapters 8
        --max-num-seqs 16 --max-num-batched-tokens 256 --policies fcfs --lora-policies unmerged,merged,dlora,dlora,merged,unmerged --warmup 5 --drain 0)
runs=()
for alpha in 0 1 2 3; do
  "${cli[@]}" bench --scenario zipf --alpha "$alpha" "${common[@]}" --out "$out/zipf-$alpha" --title "zipf alpha=$alpha"
  runs+=("zipf α=$alpha=$out/zipf-$alpha")
done
for s in hot-adapter shifting-hot; do
  "${cli[@]}" bench --scenario "$s" "${common[@]}" --out "$out/$s" --title "$s"
  runs+=("$s=$out/$s")
done
"${cli[@]}" bench-report "${runs[@]}" --plots docs/img | tee "$out/report.md"
