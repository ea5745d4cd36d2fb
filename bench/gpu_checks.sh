#!/usr/bin/env bash
# Every GPU check memscope has, in one call (a lent GPU machine comes for minutes, not hours).
#
# What it measures, each as a ratio within one run (see each script's docstring):
#   - neuron flipping, batched vs naive on the same targets (issue target >= 10x), float32
#     and an exactness check in float64;
#   - gradient accounting on vs off (target <= 1.7x) and ETD on vs off (target <= 1.15x).
#
# The GPU image has torch, pyarrow, pluggy, timm, scikit-learn but no duckdb. Fetch its
# wheel here first (Python 3.12 there), into the ignored folder .whl/:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 -d .whl duckdb
# and, for the MNIST cases, the data:  mkdir -p .benchdata && cp ../shared/data/mnist.npz .benchdata/
# then, through the device tool:  run(command="bash bench/gpu_checks.sh", carry=[".whl", ".benchdata"], timeout_s=540)
# Logs land in $OUT (the device tool's folder) or ./gpu-checks. DEVICE=cpu tries the script
# itself on a machine without a GPU.
set -uo pipefail
OUT=${OUT:-gpu-checks}
DEVICE=${DEVICE:-cuda}
PYTHON=${PYTHON:-python3}  # the GPU image's python3 holds torch; here: PYTHON=.venv/bin/python
if [ -f .benchdata/mnist.npz ]; then export MEMSCOPE_BENCH_MNIST="$PWD/.benchdata/mnist.npz"; fi
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" MEMSCOPE_LOAD_PLUGINS=
if compgen -G ".whl/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
"$PYTHON" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'NO GPU')" | tee "$OUT/env.txt"

check() {  # check NAME SECONDS SCRIPT ARGS...: one bench, its own time limit, its log in $OUT
    local name=$1 limit=$2
    shift 2
    echo "== $name: $*"
    timeout "$limit" "$PYTHON" "$@" 2>&1 | tee "$OUT/$name.log"
    echo "== $name: exit ${PIPESTATUS[0]}"
}

check flipping_fp32 150 bench/bench_neuron_flipping.py --device "$DEVICE" --dtype float32 --targets 64 --summary-targets 250
check flipping_fp64 90 bench/bench_neuron_flipping.py --device "$DEVICE" --dtype float64 --targets 16
check gradient_accounting 90 bench/bench_gradient_accounting.py --device "$DEVICE"
check etd 90 bench/bench_etd.py --device "$DEVICE"
grep -h -e "ratio" -e "floor" -e "identical" "$OUT"/*.log | tee "$OUT/summary.txt"
