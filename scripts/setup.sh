#!/usr/bin/env bash
# One-time, idempotent set-up: system libraries, the virtualenv, oneDNN for Jittor,
# and Jittor's first compile. Called by `make demo` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -e /usr/include/dnnl.hpp ] || need_apt+=(libdnnl-dev)
command -v mpirun >/dev/null 2>&1 || need_apt+=(openmpi-bin libopenmpi-dev)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)  # browser tests of the web app
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing ${need_apt[*]} (Debian packages)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "[setup] WARNING: please install ${need_apt[*]} (Debian/Ubuntu); continuing without them" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.jdfd-installed
if [ ! -f "$stamp" ] || [ setup.py -nt "$stamp" ]; then
  echo "[setup] installing jdfd and its dependencies into .venv"
  # every extra the tests exercise: serve (web app), train (ONNX reader), track (W&B offline runs)
  .venv/bin/pip install -q --disable-pip-version-check -e ".[dev,serve,train,track]"
  touch "$stamp"
fi
# Wires Debian's oneDNN into Jittor and does Jittor's first compile (~2 min once).
echo "[setup] checking Jittor (the first run compiles for about 2 minutes)"
.venv/bin/jdfd doctor || echo "[setup] WARNING: see above; jdfd will run, but slowly" >&2
