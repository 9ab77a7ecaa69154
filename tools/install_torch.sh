#!/usr/bin/env bash
# Install the torch build that BIN/.torch-spec names into the virtual environment of BIN (the Makefile calls this).
#   install_torch.sh BIN GIVEN    GIVEN: non-empty when TORCH was given to this make call (else it was remembered)
# Nothing happens when that build is installed already (BIN/.torch-installed). Otherwise:
# - the spec names an index (--index-url URL) that cannot be reached within seconds (offline, or a proxy): keep the
#   torch the environment has, or else install the same versions from pip's own sources (PyPI, a mirror, local
#   wheels), saying so in one line; `make torch` tries the index again later;
# - TORCH was not given and the environment already has a torch (an existing VENV): keep it;
# - else the old build is uninstalled first, since pip keeps an installed torch that satisfies the version (a CUDA
#   2.14.1 for a +cpu 2.14.1 request), and the spec is installed.
set -uo pipefail
bin=$1 given=${2:-}
spec=$(cat "$bin/.torch-spec")
cmp -s "$bin/.torch-spec" "$bin/.torch-installed" 2>/dev/null && exit 0
have=$("$bin/python" -c 'import torch; print(torch.__version__)' 2>/dev/null)
if [ -z "$given" ] && [ -n "$have" ] && [ ! -e "$bin/.torch-installed" ]; then
  echo "make: using torch $have, already in $(dirname "$bin") (pass TORCH=\"...\" to install another build)"
  cp "$bin/.torch-spec" "$bin/.torch-installed"; exit 0
fi
url=$(grep -oE -- '--index-url[ =][^ ]+' <<<"$spec" | head -1 | sed -E 's/--index-url[ =]//')
if [ -n "$url" ] && ! "$bin/python" - "$url" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=5)
PY
then
  pkgs=$(sed -E 's/--(extra-)?index-url[ =][^ ]+//g' <<<"$spec" | xargs)
  if [ -n "$have" ]; then
    echo "make: $url cannot be reached (offline, or a proxy); keeping torch $have, already installed (make torch tries the index again)"
    exit 0
  fi
  echo "make: $url cannot be reached (offline, or a proxy); installing $pkgs from pip's own sources instead (PyPI or your mirror: the default build, larger; make torch tries the index again later)"
  if "$bin/python" -m pip install --quiet $pkgs; then exit 0; fi
  echo "make: could not install torch: $url cannot be reached and pip's own sources failed too. Online, run the same command again; offline, name wheels you have: make install TORCH=\"path/to/torch.whl path/to/torchvision.whl\"" >&2
  exit 1
fi
[ -n "$have" ] && "$bin/python" -m pip uninstall --quiet -y torch torchvision 2>/dev/null
"$bin/python" -m pip install $spec && cp "$bin/.torch-spec" "$bin/.torch-installed"
