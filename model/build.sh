#!/usr/bin/env bash
# Rebuild the offer model from scratch: pinned Python environment, synthetic data, training,
# ONNX export, parity check, golden fixtures, metrics and model card.
#
#   bash model/build.sh            (from anywhere)
#   PYTHON=/path/to/python3.11 bash model/build.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  python="$(command -v python3.11 || command -v python3)"
fi

venv="$here/.venv"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "creating $venv with $("$python" --version)"
  "$python" -m venv "$venv"
fi

# Reinstall only when the pins change; a stamp inside the venv remembers the last install.
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
  "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r requirements.txt
  echo "$wanted" >"$stamp"
fi

# Thread pools and hash seeds are the remaining sources of run-to-run variation.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONHASHSEED=0

"$venv/bin/python" generate_data.py --out data/registrations.csv
"$venv/bin/python" train.py --data data/registrations.csv --out-dir .
