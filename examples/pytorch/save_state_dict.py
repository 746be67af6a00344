"""Saves a problem-set VAE's state_dict (or the notebook's) as PyTorch users do, for `vae-gpu analyze` to read.

    python3 examples/pytorch/save_state_dict.py OUT_DIR [--c1 8] [--c2 12] [--lat 6] [--k 5] [--seed 1]
    python3 examples/pytorch/save_state_dict.py OUT_DIR --channels 1,4,8,8,8 --size 48 [--lat 6] [--k 3]

Writes OUT_DIR/model.safetensors with safetensors.torch.save_file(vae.state_dict(), ...) (no metadata of
Vae.Gpu's); where the safetensors package is absent the same file is written by hand.
"""
import argparse
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vae import VAE, NotebookVAE  # noqa: E402


def save_file(tensors, path):
    try:
        from safetensors.torch import save_file as save
        save(tensors, path)
    except ImportError:
        names = sorted(tensors)
        header, offset = {}, 0
        for name in names:
            n = tensors[name].numel() * 4
            header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + n]}
            offset += n
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text)
            for name in names:
                f.write(tensors[name].detach().contiguous().numpy().astype("<f4").tobytes())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    for name, default in [("--c1", 8), ("--c2", 12), ("--lat", 6), ("--k", 5), ("--seed", 1)]:
        p.add_argument(name, type=int, default=default)
    p.add_argument("--channels", help="the notebook's model: image channels, then each conv layer's, e.g. 1,4,8,8,8")
    p.add_argument("--size", type=int, default=48, help="the notebook model's image side")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    vae = NotebookVAE([int(c) for c in a.channels.split(",")], a.lat, a.k, a.size) if a.channels else VAE(a.c1, a.c2, a.lat, a.k)
    os.makedirs(a.out, exist_ok=True)
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, os.path.join(a.out, "model.safetensors"))
    sizes = f"channels={a.channels} size={a.size}" if a.channels else f"c1={a.c1} c2={a.c2}"
    print(f"wrote {os.path.join(a.out, 'model.safetensors')}: {sizes} lat={a.lat} k={a.k}")


if __name__ == "__main__":
    main()
