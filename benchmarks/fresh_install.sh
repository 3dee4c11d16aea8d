#!/usr/bin/env bash
# What `pip install .` alone gives an application developer: a fresh virtual environment with the
# base install (no extras), its size on disk (pip included), proof that torch is not in it, and
# predict (also with --encoder), segment, stream and serve run on a file of speech.
#     bash benchmarks/fresh_install.sh [VENV_DIR]     (default: a temporary folder, removed after)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$(mktemp -d)/venv}"
work="$(mktemp -d)"
trap 'kill "${server:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

"${PYTHON:-python3.11}" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
cp -r "$repo/src" "$repo/pyproject.toml" "$repo/README.md" "$work/"  # a clean copy: no .venv, no build leftovers
start=$(date +%s)
"$venv/bin/python" -m pip install --quiet "$work"
echo "pip install . took $(( $(date +%s) - start )) s"
echo "size of the environment (pip included): $(du -sm "$venv" | cut -f1) MB"
if "$venv/bin/python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)"; then
    echo "FAIL: torch is installed" >&2
    exit 1
fi
echo "torch: not installed"

# A 4-s recording of speech, from the test fixtures' synthesiser (it needs scipy, so the dev venv writes it).
"$repo/.venv/bin/python" -c "
import soundfile as sf, numpy as np
from voxgender.synth import synth_clip
sf.write('$work/talk.wav', np.concatenate([synth_clip('female', 2.0, 1), synth_clip('male', 2.0, 2)]), 16000)"
cd "$work"
"$venv/bin/voxgender" predict talk.wav --format jsonl
"$venv/bin/voxgender" predict talk.wav --format jsonl --encoder
"$venv/bin/voxgender" segment talk.wav --format rttm --out timelines && cat timelines/*
"$venv/bin/voxgender" stream talk.wav | tail -1
"$venv/bin/voxgender" serve --port 8765 > serve.log 2>&1 &
server=$!
for _ in $(seq 1 60); do curl -sf http://127.0.0.1:8765/healthz > /dev/null && break; sleep 0.5; done
curl -sf --data-binary @talk.wav "http://127.0.0.1:8765/v1/predict?name=talk.wav"; echo
echo "fresh install: predict (with and without the speaker encoder), segment, stream and serve ran without torch"
