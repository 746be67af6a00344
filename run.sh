#!/usr/bin/env bash
# The main job: train the VAE (the problem set's defaults: 15 epochs), analyze the latent space and write
# every figure and report to runs/latest (or $OUT). Extra arguments go to `vae-gpu run`, e.g. --epochs 3.
set -euo pipefail
cd "$(dirname "$0")"
if [ -z "${FASHION_MNIST_DIR:-}" ] && [ ! -d data/FashionMNIST/raw ] \
   && [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] \
   && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  # Debian packages the data set; elsewhere vae-gpu downloads it from the official mirror (MD5-checked).
  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) \
    || echo "could not install dataset-fashion-mnist; vae-gpu will try to download the data"
fi
exec dotnet run --project src/Vae.Gpu.Cli -c Release -- run --out "${OUT:-runs/latest}" "$@"
