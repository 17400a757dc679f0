#!/usr/bin/env bash
# The device-machine side of benchmarks/gpu_check.py: one call, nothing reachable there, torch and transformers in
# its image. Prepare here once (wheels only: every one below exists as a wheel; .gpu_whl/ is ignored and carried):
#   echo /.gpu_whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       -d .gpu_whl trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
# (2.3 MB; the working tree travels too, ~4 MB.) Then one device call:
#   run(command="bash benchmarks/gpu_check.sh", carry=[".gpu_whl"], timeout_s=420)
# It takes about 3 minutes on an H100 (building the 1.5B model, 5 DPO steps, two generate batches); the JSON comes
# back under $OUT. tests/test_gpu_check.py dry-runs it on CPU with only the device's packages importable.
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu_whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
mkdir -p "${OUT:-/tmp/gpu_check}"
python3 benchmarks/gpu_check.py --out "${OUT:-/tmp/gpu_check}" 2>&1 | tee "${OUT:-/tmp/gpu_check}/gpu_check.log"
