#!/usr/bin/env bash
# One-command set-up: the suite (editable), its test tools, and OpenMMLab (mmengine, mmcv with compiled ops,
# mmdet, mmsegmentation). mmcv publishes no wheel for our torch, so it is built from source once (about 12 minutes
# on 2 cores) and the wheel is cached in ~/.cache/efficienttrain/wheels/<torch version>/ for every later install.
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
    CXX="$PWD/tools/cxx20" MMCV_WITH_OPS=1 MAX_JOBS=$(nproc) \
      $PY -m pip wheel --no-build-isolation --no-deps -w "$cache" mmcv==2.1.0
  fi
  $PY -m pip install "$cache"/mmcv-2.1.0-*.whl
fi
# mmseg imports its CLIP tokenizer (ftfy, regex) at import time without declaring them
$PY -m pip install mmengine==0.10.7 mmdet==3.3.0 mmsegmentation==1.2.2 ftfy regex
$PY -c "import mmcv.ops, mmdet, mmseg, mmseg.utils; print('OpenMMLab ready: mmcv', mmcv.__version__, 'mmdet', mmdet.__version__, 'mmseg', mmseg.__version__)"
