#!/usr/bin/env bash
# The main job: train the VAE (the problem set's defaults: 15 epochs), analyze the latent space and write
# every figure and report to runs/latest (or $OUT). Extra arguments go to `vae-gpu run`, e.g. --epochs 3.
#
# It trains on the fastest accelerator it can get and says which in one line: a GPU (CUDA, or OpenCL on a
# GPU) when present; else OpenCL on the CPU where a device ILGPU accepts is installed; else PoCL through
# scripts/with-pocl (the system's package when new enough, or, as root on Debian 12 and the like, a cached
# Debian trixie root built once); else ILGPU's CPU accelerator. `--accelerator cpu|opencl|cuda` chooses
# yourself, and VAE_GPU_RUN_CPU=1 keeps the plain CPU-accelerator path. A PoCL set-up that fails falls back
# to the CPU accelerator.
set -euo pipefail
cd "$(dirname "$0")"
say() { echo "run.sh: $*" >&2; }

# Help first: nothing is installed, built into a root or trained to print it.
for arg in "$@"; do
  case "$arg" in
    -h|--help|-\?)
      cat <<'EOF_HELP'
usage: ./run.sh [vae-gpu run options]

Trains the VAE (the problem set's defaults: 15 epochs, batch 128, lat 16), analyzes its latent space and
evaluates it, writing every figure and report to runs/latest. It trains on the fastest accelerator it can
get and says which: a GPU, else an installed OpenCL device, else OpenCL on the CPU through PoCL, else ILGPU's
CPU accelerator.

What it sets up when it can (root on Debian or Ubuntu): Debian's dataset-fashion-mnist, and PoCL through
scripts/with-pocl (the system's package when new enough, else a Debian trixie root built once in 1-2
minutes, 0.9 GB). Otherwise vae-gpu downloads the data and trains on what is present.

Environment:
  OUT=DIR             write the run there instead of runs/latest
  VAE_GPU_RUN_CPU=1   train on ILGPU's CPU accelerator; set nothing up (as --accelerator cpu)

Examples: ./run.sh --epochs 3 | ./run.sh --resume runs/latest --epochs 20 | ./run.sh --overwrite

The options below are vae-gpu run's:
EOF_HELP
      dll=src/Vae.Gpu.Cli/bin/Release/net10.0/vae-gpu.dll
      [ -s "$dll" ] || dotnet build src/Vae.Gpu.Cli -c Release -v q -nologo >/dev/null || { say "dotnet build failed"; exit 1; }
      exec dotnet "$dll" run --help ;;
  esac
done

if [ -z "${FASHION_MNIST_DIR:-}" ] && [ ! -d data/FashionMNIST/raw ] \
   && [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] \
   && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  # Debian packages the data set; elsewhere vae-gpu downloads it from the official mirror (MD5-checked).
  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) \
    || echo "could not install dataset-fashion-mnist; vae-gpu will try to download the data"
fi

# The accelerator asked for, if any (the last --accelerator wins, as in vae-gpu).
requested=auto
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --accelerator) [ $((i + 1)) -lt ${#args[@]} ] && requested=${args[$((i + 1))]} ;;
    --accelerator=*) requested=${args[$i]#*=} ;;
  esac
done

dotnet build src/Vae.Gpu.Cli -c Release -v q -nologo >/dev/null || { say "dotnet build failed; run 'dotnet build src/Vae.Gpu.Cli -c Release' to see why"; exit 1; }
cli=(dotnet src/Vae.Gpu.Cli/bin/Release/net10.0/vae-gpu.dll)
job=(run --out "${OUT:-runs/latest}" "$@")

# PoCL is worth setting up only where the CPU would otherwise train on ILGPU's CPU accelerator.
use_pocl=no
if [ -z "${VAE_GPU_RUN_CPU:-}" ] && { [ "$requested" = auto ] || [ "$requested" = opencl ]; }; then
  devices=$("${cli[@]}" devices --json 2>/dev/null || echo '[]')
  if grep -qE '"type": "(cuda|opencl)"' <<<"$devices"; then
    [ "$requested" = auto ] && say "training on $(grep -m1 -oE '"type": "(cuda|opencl)"' <<<"$devices" | cut -d'"' -f4) (vae-gpu devices lists what is present)"
  elif [ "$(uname -s)" = Linux ] && command -v dpkg-query >/dev/null \
       && { [ "$(id -u)" = 0 ] || dpkg-query -W -f='${Version}' pocl-opencl-icd >/dev/null 2>&1; }; then
    use_pocl=yes
  elif [ "$requested" = auto ]; then
    say "no GPU and no OpenCL: training on ILGPU's CPU accelerator (about 20-40 images/s on 2 cores, 6-12 hours for 15 epochs); run ./run.sh as root on Debian or Ubuntu to have it set up PoCL (OpenCL on the CPU, 7-16x faster), or install pocl-opencl-icd >= 4"
  fi
fi

if [ "$use_pocl" = yes ]; then
  root=${VAE_GPU_POCL_ROOT:-/var/cache/vae-gpu/pocl-trixie}
  building=""
  dpkg-query -W -f='${Version}' pocl-opencl-icd >/dev/null 2>&1 || [ -e "$root/.vae-gpu-ready" ] || building="; building it once (1-2 minutes, 0.9 GB) in $root"
  say "no GPU; using OpenCL on the CPU through PoCL (scripts/with-pocl), 7-16x faster on a 2-core machine than ILGPU's CPU accelerator$building; --accelerator cpu or VAE_GPU_RUN_CPU=1 keeps the CPU accelerator"
  if scripts/with-pocl true; then
    # auto inside: should PoCL refuse to open, vae-gpu says so and trains on the CPU accelerator.
    exec scripts/with-pocl "${cli[@]}" "${job[@]}"
  fi
  say "setting up PoCL failed (above); training on ILGPU's CPU accelerator instead"
fi
exec "${cli[@]}" "${job[@]}"
