#!/usr/bin/env bash
# Regenerates the golden files of this folder with the independent reference
# (../shared/reference/ref_llama.py, torch 1.13, f64 compute). Run from this folder:
#   bash make_golden.sh /work/shared/reference/ref_llama.py
set -euo pipefail
R=${1:-/work/shared/reference/ref_llama.py}
P=/usr/bin/python3
ids() { $P -c "import random; r=random.Random($1); print(','.join(str(r.randrange($2)) for _ in range($3)))"; }
make() { # name, T, seed, make-random args...
  local name=$1 t=$2 seed=$3; shift 3
  rm -rf "$name"
  $P "$R" make-random --out "$name" --seed "$seed" --std 0.2 "$@" >/dev/null
  ids "$seed" "$(sed -n 's/.*"vocab_size": *\([0-9]*\).*/\1/p' "$name/config.json")" "$t" > "$name/tokens.txt"
  $P "$R" logits --model "$name" --tokens "$(cat "$name/tokens.txt")" --out "$name/logits.safetensors" --out-dtype f64 >/dev/null
}
make mha_f32       40  1 --hidden 24 --layers 2 --heads 3 --kv-heads 3 --ffn 40 --vocab 48 --dtype f32
make gqa_bf16      48  2 --hidden 48 --layers 2 --heads 6 --kv-heads 2 --ffn 88 --vocab 72 --dtype bf16
make mqa_f16_3sh   40  3 --hidden 40 --layers 2 --heads 4 --kv-heads 1 --ffn 72 --vocab 64 --dtype f16 --shards 3 --rope-theta 500000
make tied_hd12     40  4 --hidden 32 --layers 2 --heads 4 --kv-heads 2 --head-dim 12 --ffn 60 --vocab 64 --dtype bf16 --tie --eps 1e-5
make long_t520    520  5 --hidden 32 --layers 1 --heads 4 --kv-heads 2 --ffn 64 --vocab 16 --dtype bf16
# greedy generation (prompt = the first 8 tokens of gqa_bf16), with per-step margins
$P "$R" generate --model gqa_bf16 --tokens "$(cut -d, -f1-8 gqa_bf16/tokens.txt)" --n 24 --json > gqa_bf16/generate.json
