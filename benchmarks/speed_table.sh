#!/usr/bin/env bash
# The benchmark report's GPU speed rows in one command, sized to fit under ten minutes on one GPU machine:
#   1. build the 500x375 JPEG folder from PHOTOS (benchmarks/make_jpeg_folder.py, one process per core);
#   2. run the whole path once on a tiny model (seconds; decoded on the device, the first long runs' path), so a
#      broken environment stops before the long runs;
#   3. pretrain_speed: MAE ViT-B/16 at 224, bf16, baseline vs efficienttrain / efficienttrain++ (budget 2/3),
#      with data.decode=device (nvJPEG and the crop on the GPU, decoded ahead of the step): first the ImageNet
#      configs' path, `fft` mode with batches twice as large below 224 (schedule.fold=2, the official launchers'
#      256 x 2 against 128 x 4; a few steps a size profiled: how busy the GPU was), then `resize` mode with fold
#      and run.compile=blocks (each transformer block compiled, one graph per stage size shared by the blocks),
#      `resize` mode with fold (the 1.52-1.55x of benchmarks/README.md) and without, with compile=blocks alone, and with
#      data.decode=box (Pillow decodes in the workers, the GPU resamples the box: for GPUs without nvJPEG hardware);
#   4. loader_costs: the worker's stages, loader images/s for 4-16 workers, the transport of a device-decode
#      batch, batched nvJPEG decoding on the GPU; then `fft` mode with data.decode=device;
#   5. pretrain_speed in `fft` mode as released (the Pillow loader);
#   6. vs_official_mae: our step against facebookresearch/mae's models_mae.py (a clone at MAE_CLONE), same batch;
#   7. pretrain_speed in `resize` mode with `data.decode=reduced` (the loader's cost follows the stage).
# Each run gets what is left of BUDGET_S seconds (default 480) at most, so a slow step costs only the later ones;
# every report lands in OUT as it is written, with the log (the environment first), and the first long run's
# profiled steps in OUT/traces (one gzip Chrome trace a stage size). ONLY (run names, space-separated, e.g.
# ONLY="resize-box loader-costs") runs those alone: a second call on a warm machine.
#
#   bash benchmarks/speed_table.sh PHOTOS MAE_CLONE OUT
# BENCH_COMMIT names the commit the reports record when the tree is a copy whose .git is not its own. MODEL, BATCH, WORKERS, STEPS, WARMUP, AMP, DATA, DECODE_DEVICE, PYTHON and BUDGET_S override the defaults
# (e.g. MODEL=mae_vit_tiny BATCH=8 WORKERS=2 STEPS=2 WARMUP=1 AMP=none DECODE_DEVICE=cpu to try it on a CPU).
set -u -o pipefail
photos=${1:?usage: speed_table.sh PHOTOS MAE_CLONE OUT}
official=${2:?usage: speed_table.sh PHOTOS MAE_CLONE OUT}
out=${3:?usage: speed_table.sh PHOTOS MAE_CLONE OUT}
py=${PYTHON:-python3}
model=${MODEL:-mae_vit_base} batch=${BATCH:-256} workers=${WORKERS:-16} steps=${STEPS:-48} warmup=${WARMUP:-16}
amp=${AMP:-bf16} data=${DATA:-/tmp/jpeg-bench}
deadline=$((SECONDS + ${BUDGET_S:-480}))
export PYTHONUNBUFFERED=1
mkdir -p "$out"
log=$out/log.txt

{
    date -u
    echo "commit ${BENCH_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null)}"
    nvidia-smi || true
    nproc
    df -h /dev/shm
    $py -c "import PIL, timm, torch, torchvision; print('torch', torch.__version__, 'cuda', torch.version.cuda,
    'torchvision', torchvision.__version__, 'timm', timm.__version__, 'pillow', PIL.__version__)"
} >"$log" 2>&1

run() {  # run NAME SECONDS SCRIPT ARGS...: one benchmark, stopped at SECONDS or at the deadline
    local name=$1 limit=$2 left=$((deadline - SECONDS))
    shift 2
    if [[ -n ${ONLY:-} && $name != folder && " $ONLY " != *" $name "* ]]; then echo "== $name: not in ONLY"; return 0; fi
    ((left < limit)) && limit=$left
    if ((limit <= 0)); then echo "== $name: skipped, no time left"; return 1; fi
    echo "== $name (at most ${limit}s): $py benchmarks/$*"
    timeout "$limit" "$py" "benchmarks/$@"
    local rc=$?
    echo "== $name: exit $rc after $SECONDS s"
    return $rc
}

runs=" smoke smoke-official fft-device-fold compile-blocks-fold resize-device-fold resize-device-decode compile-blocks
resize-box loader-costs fft-device-decode fft official resize-reduced "
for name in ${ONLY:-}; do  # a misspelt name would otherwise skip every run
    [[ $runs == *[[:space:]]$name[[:space:]]* ]] || { echo "ONLY: no run named $name (runs:" $runs")" >&2; exit 2; }
done
common=(--data "$data" --model "$model" --batch "$batch" --workers "$workers" --amp "$amp" --steps "$steps"
        --warmup "$warmup")
{
    [[ -d $data/train ]] || run folder 120 make_jpeg_folder.py --source "$photos" --out "$data" --images 2000 \
        --workers "$(nproc)" || exit 1
    run smoke 90 pretrain_speed.py --data "$data" --model mae_vit_tiny --batch 8 --workers 2 --amp "$amp" \
        --steps 2 --warmup 1 --decode device --low-frequency resize || exit 1
    run smoke-official 60 vs_official_mae.py --official "$official" --model mae_vit_tiny --batch 8 --amp "$amp" \
        --steps 2 --warmup 1 --repeats 1 || exit 1
    run fft-device-fold 240 pretrain_speed.py "${common[@]}" --decode device --fold 2 \
        --profile-dir "$out/traces" --profile-steps 6 --json "$out/gpu_${model}_224_device_decode_fold2.json"
    run compile-blocks-fold 300 pretrain_speed.py "${common[@]}" --low-frequency resize --decode device --fold 2 \
        --compile blocks --json "$out/gpu_${model}_224_resize_device_decode_compile_blocks_fold2.json"
    run resize-device-fold 240 pretrain_speed.py "${common[@]}" --low-frequency resize --decode device --fold 2 \
        --json "$out/gpu_${model}_224_resize_device_decode_fold2.json"
    run resize-device-decode 240 pretrain_speed.py "${common[@]}" --low-frequency resize --decode device \
        --json "$out/gpu_${model}_224_resize_device_decode.json"
    run compile-blocks 300 pretrain_speed.py "${common[@]}" --decode device --low-frequency resize \
        --compile blocks --json "$out/gpu_${model}_224_resize_device_decode_compile_blocks.json"
    run resize-box 240 pretrain_speed.py "${common[@]}" --low-frequency resize --decode box \
        --json "$out/gpu_${model}_224_resize_box.json"
    run loader-costs 120 loader_costs.py --data "$data" --batch 64 --workers 4 8 12 16 --steps 32 --warmup 16 \
        --decode-device "${DECODE_DEVICE:-cuda}" --json "$out/gpu_loader_costs.json"
    run fft-device-decode 240 pretrain_speed.py "${common[@]}" --decode device \
        --json "$out/gpu_${model}_224_device_decode.json"
    run fft 240 pretrain_speed.py "${common[@]}" --json "$out/gpu_${model}_224.json"
    run official 120 vs_official_mae.py --official "$official" --model "$model" --batch "$batch" --amp "$amp" \
        --steps 20 --warmup 5 --repeats 3 --json "$out/gpu_vs_official_${model}.json"
    run resize-reduced 240 pretrain_speed.py "${common[@]}" --low-frequency resize --decode reduced \
        --json "$out/gpu_${model}_224_resize_reduced.json"
} 2>&1 | tee -a "$log"
