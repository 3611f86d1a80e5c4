#!/usr/bin/env bash
# Time to accuracy on one GPU, sized to finish in about 8 minutes on Imagenette (9,469 training images; bf16):
#   (a) ResNet-50 from scratch at 128 px, 5 epochs (the fastai/imagenette leaderboard's 128 px / 5 epoch row),
#       baseline / efficienttrain / efficienttrain++ (budget 2/3, the official _ET_pp_main_res50.py stages) /
#       baseline-short, 2 seeds; JPEGs decoded with nvJPEG and RandAugment on the GPU (--decode device: the
#       workers only read files and draw boxes); its per-stage table gives the computation trained per second
#       against the baseline's, and the step's shares waiting for the loader and augmenting on the GPU;
#   (b) MAE ViT-S/16 at 128 px, 20 epochs of pre-training (baseline and efficienttrain), then the same 10-epoch
#       fine-tuning from each encoder and from random initialisation, 1 seed.
# Every finished run is in OUT/results.json at once, so a call that runs out of time keeps what finished.
# Extra arguments go to both calls of benchmarks/time_to_accuracy.py and override the ones above: `--quick --workers 0
# --final-size 64` checks the whole path on a CPU in about a minute (tests/benchmarks/test_time_to_accuracy.py).
#
#   bash benchmarks/time_to_accuracy_gpu.sh DATA OUT [ARGS...]    # WORKERS (default 12): loader workers; PYTHON
set -euo pipefail
data=${1:?usage: time_to_accuracy_gpu.sh DATA OUT [ARGS...]}
out=${2:?usage: time_to_accuracy_gpu.sh DATA OUT [ARGS...]}
shift 2
py=${PYTHON:-python3}
here=$(dirname "$0")
export PYTHONUNBUFFERED=1
common=(--data "$data" --out "$out" --final-size 128 --batch-size 256 --workers "${WORKERS:-12}")
"$py" "$here/time_to_accuracy.py" "${common[@]}" --experiments a --model resnet50 --epochs 5 --seeds 2 \
    --decode device "$@"
"$py" "$here/time_to_accuracy.py" "${common[@]}" --experiments b --mae-model vit_small --pretrain-epochs 20 \
    --finetune-epochs 10 --seeds 1 "$@"
