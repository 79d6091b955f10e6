#!/usr/bin/env bash
# Model v2 (issue #11) from photos to pretrained/, resumable: run it again and it goes on
# where it stopped. Each stage is skipped once its run folder holds a finished export.
#
#   scripts/model_v2.sh                   # every remaining stage in turn (many CPU hours)
#   MAX_STEPS=1500 scripts/model_v2.sh    # at most 1,500 more steps of the current stage, then stop
#   NP=1 scripts/model_v2.sh              # one process (default: mpirun -np 2, one thread each)
#   touch ~/.cache/jdfd/runs/v2_s2/STOP   # (another shell) the running stage checkpoints after its
#                                         # current step and stops; run the script again to go on
#
# batch_size in the configs is per process: they are sized for NP=2 (stage I: 2 × 8 sketches a
# step, stage II and baseline: 2 × 2 pairs). With NP=1 each step sees half as many samples.
#
# Stages: v2 sketches → stage I (compact_v2_stage1) → banks of all 1,959 training sketches →
# stage II (compact_v2_stage2, from stage I) → the baseline (compact_v2_baseline, same data and
# budget) → jdfd eval of both on the 100 val photos. Shipping (jdfd export … -o pretrained) is
# left to a person who has looked at the faces.
set -euo pipefail
cd "$(dirname "$0")/.."

PHOTOS=${PHOTOS:-../shared/data/celebahq}
S=${SKETCHES:-$HOME/.cache/jdfd/data/sketches_v2}
RUNS=${RUNS:-$HOME/.cache/jdfd/runs}
NP=${NP:-2}
if [ "$NP" -gt 1 ] && ! command -v mpirun > /dev/null; then
    echo "mpirun not found (scripts/setup.sh installs OpenMPI): training in one process"
    NP=1
fi
JDFD=.venv/bin/jdfd
PY=.venv/bin/python

launch() {  # jdfd train, under mpirun when NP > 1 (batch_size in the configs is per process)
    if [ "$NP" -gt 1 ]; then
        OMP_NUM_THREADS=$(( $(nproc) / NP > 0 ? $(nproc) / NP : 1 )) \
        OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
            mpirun -np "$NP" --bind-to none "$JDFD" train "$@"
    else
        "$JDFD" train "$@"
    fi
}

finished() {  # a run folder whose export holds as many steps as its config asks for
    $PY - "$1" <<'EOF'
import json, sys
from pathlib import Path
run = Path(sys.argv[1])
try:
    want = json.loads((run / "train_config.json").read_text())["steps"]
    got = json.loads((run / "export" / "config.json").read_text())["trained"]["steps"]
except (OSError, KeyError, ValueError):
    sys.exit(1)
sys.exit(0 if got >= want else 1)
EOF
}

train() {  # train STAGE CONFIG RUN [args...]: run or resume; exit when MAX_STEPS leaves it unfinished
    local stage=$1 config=$2 run=$3
    shift 3
    if finished "$run"; then
        echo "== $stage: $run is finished"
        return
    fi
    echo "== $stage: $run (log: $run.log)"
    launch "$stage" --config "$config" --out "$run" --resume ${MAX_STEPS:+--max-steps "$MAX_STEPS"} "$@" \
        2>&1 | tee -a "$run.log"
    if ! finished "$run"; then
        echo "== $stage stopped before its last step; run scripts/model_v2.sh again to go on"
        exit 0
    fi
}

for split in train extra val; do
    n_photos=$(find "$PHOTOS/$split" -maxdepth 1 -type f | wc -l)
    # a missing folder (a new machine) counts as none: under pipefail, find's error would end the script
    n_sketches=0
    [ -d "$S/$split" ] && n_sketches=$(find "$S/$split" -maxdepth 1 -type f | wc -l)
    if [ "$n_sketches" -lt "$n_photos" ]; then
        echo "== sketchify v2: $PHOTOS/$split → $S/$split"
        $JDFD sketchify "$PHOTOS/$split" -o "$S/$split"
    fi
done

train stage1 compact_v2_stage1 "$RUNS/v2_s1" --data "$S/train,$S/extra" --val-data "$S/val"

if [ ! -f "$RUNS/v2_s1/export/banks.safetensors" ]; then
    echo "== banks: the 1,959 training sketches through the stage-I encoders"
    $JDFD build-bank --model "$RUNS/v2_s1/export" --data "$S/train,$S/extra"
fi

train stage2 compact_v2_stage2 "$RUNS/v2_s2" --init "$RUNS/v2_s1/export" \
    --data "$S/train,$S/extra" --photos "$PHOTOS/train,$PHOTOS/extra" \
    --val-data "$S/val" --val-photos "$PHOTOS/val"

train baseline compact_v2_baseline "$RUNS/v2_baseline" \
    --data "$S/train,$S/extra" --photos "$PHOTOS/train,$PHOTOS/extra" \
    --val-data "$S/val" --val-photos "$PHOTOS/val"

echo "== jdfd eval: model v2 and its baseline on the val photos"
$JDFD eval --model "$RUNS/v2_s2/export" --baseline "$RUNS/v2_baseline/export" \
    --photos "$PHOTOS/val" --sketches "$S/val" --out "$RUNS/v2_eval"
echo "== done: look at $RUNS/v2_eval and the faces before exporting to pretrained/"
