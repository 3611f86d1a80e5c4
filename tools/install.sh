#!/usr/bin/env bash
# One-command set-up: the suite (editable) with its test tools, then the OpenMMLab extra (`.[mm]`: mmengine,
# mmdet, mmsegmentation on top of mmcv 2.1.0 with compiled ops). mmcv publishes no wheel for our torch, so it is
# built from source once (measured here: 19 minutes for the whole set-up on 2 cores, most of it the mmcv build)
# and the wheel is cached in ~/.cache/efficienttrain/wheels/torch-<version>/ for every later install.
# The core suite (curriculum, pretrain_mae, finetune) needs only the first step; the OpenMMLab tests skip without
# the extra.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# mmcv 2.1's setup.py imports pkg_resources, which setuptools 81 removed.
$PY -m pip install "setuptools>=70,<81" wheel ninja
$PY -m pip install -e ".[test]"

if ! $PY -c "import mmcv.ops" 2>/dev/null; then
  torch_version=$($PY -c "import torch; print(torch.__version__)")
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/efficienttrain/wheels/torch-${torch_version}"
  if ! ls "$cache"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
    echo "building mmcv 2.1.0 with ops against torch ${torch_version} (once; cached in $cache)"
    # tools/cxx20: C++20 for torch >= 2.10 headers, no debug info (-g0); ninja runs one compile job per core
    CXX="$PWD/tools/cxx20" MMCV_WITH_OPS=1 MAX_JOBS=$(nproc) \
      $PY -m pip wheel --no-build-isolation --no-deps -w "$cache" mmcv==2.1.0
  fi
  $PY -m pip install "$cache"/mmcv-2.1.0-*.whl
fi
$PY -m pip install -e ".[test,mm]"
$PY -c "import mmcv.ops, mmdet, mmseg, mmseg.utils; print('OpenMMLab ready: mmcv', mmcv.__version__, 'mmdet', mmdet.__version__, 'mmseg', mmseg.__version__)"
