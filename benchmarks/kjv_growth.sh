#!/bin/sh
# The seed's claim, reproduced small: train a model from scratch on the KJV Bible, grow it with MSG
# (width and depth), continue training, and compare with the same parent continued without growth
# for the same compute (training FLOPs) and for the same number of tokens.
#
#   sh benchmarks/kjv_growth.sh            # writes work/kjv-growth/ (store, runs, report)
#
# Needs the Debian packages of ../shared/fixtures/corpora (bible-kjv-text bible-kjv).
set -eu
cd "$(dirname "$0")/.."
OUT=${OUT:-work/kjv-growth}
STAGE1=${STAGE1:-600}      # parent steps from scratch
STAGE2=${STAGE2:-150}      # grown-model steps after growth
RAMP=${RAMP:-30}           # mask ramp length after growth
SEQ=128; BATCH=8
STORE=$OUT/store
mkdir -p "$OUT"
if [ ! -f "$OUT/corpora/kjv.txt" ]; then sh ../shared/fixtures/corpora/prepare.sh "$OUT/corpora" >/dev/null; fi
DATA=$OUT/corpora/kjv.txt
A="--store $STORE --data $DATA --batch $BATCH --seq $SEQ --eval-every 50 --eval-batches 8 --threads ${THREADS:-2}"

# 1. the parent, from scratch: constant LR after warmup, so that it is not annealed before growth
rm -rf "$OUT/seed"
./arbor init-model "$OUT/seed" --hidden 128 --layers 4 --heads 4 --ffn 352 --tokenizer bytes --max-pos 256 --dtype f32 --seed 1
./arbor train "$OUT/seed" --name kjv $A --steps "$STAGE1" --lr 3e-3 --schedule constant --warmup 50 \
  --tag parent --run-dir "$OUT/runs/parent"

# 2. grow: hidden 128→192, heads 4→6, ffn 352→512, layers 4→6 (function preserved, checked)
./arbor grow kjv:parent --store "$STORE" --hidden 192 --heads 6 --ffn 512 --layers 6 --ramp-steps "$RAMP" \
  --seed 2 --name kjv-grown --tag start

# 3. continue both for the same compute. FLOPs per token (PaLM: 6N + 12·L·D·T, N = matrices without
#    the input embedding): parent 5.80 M, grown 18.0 M, so the parent gets 3.1× the steps.
P_FPT=$(python3 -c "D,L,F,V,T=128,4,352,260,$SEQ;print(6*(L*(4*D*D+3*D*F)+V*D)+12*L*D*T)")
G_FPT=$(python3 -c "D,L,F,V,T=192,6,512,260,$SEQ;print(6*(L*(4*D*D+3*D*F)+V*D)+12*L*D*T)")
BASE=$(python3 -c "print(round($STAGE2*$G_FPT/$P_FPT))")
S2="--lr 2e-3 --schedule cosine --warmup 10 --min-lr 2e-4"
./arbor train kjv-grown:start $A --steps "$STAGE2" $S2 --tag grown --run-dir "$OUT/runs/grown"
./arbor train kjv:parent --name kjv $A --steps "$BASE" $S2 --tag continued --run-dir "$OUT/runs/continued"
# the same number of tokens as the grown run, for the other comparison
./arbor train kjv:parent --name kjv $A --steps "$STAGE2" $S2 --tag continued-same-tokens --run-dir "$OUT/runs/continued-same-tokens"

./arbor report grown="$OUT/runs/grown" continued="$OUT/runs/continued" --x flops --out "$OUT/report-flops" \
  --title "KJV: grown (MSG) vs continued, same training FLOPs"
./arbor report grown="$OUT/runs/grown" continued="$OUT/runs/continued-same-tokens" --x tokens --out "$OUT/report-tokens" \
  --title "KJV: grown (MSG) vs continued, same tokens"
echo "parent FLOPs/token $P_FPT, grown $G_FPT; continued run: $BASE steps"
