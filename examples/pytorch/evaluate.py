"""The numbers of `vae-gpu evaluate`, computed independently with the problem set's PyTorch model.

    python3 examples/pytorch/evaluate.py RUN_DIR DATA_DIR [--images N] [--k K] [--seed S] [--kl seed|standard]

RUN_DIR holds model.safetensors; DATA_DIR the Fashion-MNIST files (t10k-images-idx3-ubyte[.gz] and labels).
Prints one JSON document with the fields of `vae-gpu evaluate --json`, per image in nats: loss, bce, kl,
kl_per_dim, elbo, bce_floor, active_units, iwae {k, bound, stderr, images}, classes {probe_accuracy}.

The noise is Vae.Gpu's counter-based generator (Philox4x32-10 and Box-Muller, written here in NumPy): sample s
of image i draws eps[d] at (seed, step s, index i * lat + d), so both tools evaluate the same z and their
results agree to float rounding. The densities, the log-sum-exp and the k-NN probe are written from their
definitions, in float64 where Vae.Gpu uses float32.

It computes with PyTorch's native kernels and first checks them at the model's shapes (oracle.py): where
PyTorch is wrong on this CPU it says so in one line and exits with oracle.WRONG_ORACLE_EXIT (3).
"""
import argparse
import gzip
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vae import fail, load_run, read_safetensors  # noqa: E402  (first: it names a missing torch or numpy in one line)
import numpy as np  # noqa: E402
import torch  # noqa: E402
import oracle  # noqa: E402

M0, M1, W0, W1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57), 0x9E3779B9, 0xBB67AE85
MASK = np.uint64(0xFFFFFFFF)


def philox_normal(seed, step, index):
    """Standard normals (float32) at counters (index, step lo, step hi, 0) under key seed."""
    c0 = index.astype(np.uint64)
    c1 = np.full_like(c0, step & 0xFFFFFFFF)
    c2 = np.full_like(c0, step >> 32)
    c3 = np.zeros_like(c0)
    k0, k1 = seed & 0xFFFFFFFF, seed >> 32
    for _ in range(10):
        p0, p1 = M0 * c0, M1 * c2
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0), p1 & MASK, (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1), p0 & MASK
        k0, k1 = (k0 + W0) & 0xFFFFFFFF, (k1 + W1) & 0xFFFFFFFF
    scale = np.float32(1 / 16777216)
    u1 = ((c0 >> np.uint64(8)) + np.uint64(1)).astype(np.float32) * scale
    u2 = (c1 >> np.uint64(8)).astype(np.float32) * scale
    return np.sqrt(np.maximum(np.float32(0), np.float32(-2) * np.log(u1))) * np.cos(np.float32(2 * np.float32(math.pi)) * u2)


def read_idx(data_dir, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            try:
                with (gzip.open if name.endswith(".gz") else open)(path, "rb") as f:
                    raw = f.read()
                dims = raw[3]
                shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
                return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)
            except (OSError, EOFError, IndexError, ValueError) as e:
                fail(f"{path} is not an IDX file ({e}): restore the Fashion-MNIST files")
    fail(f"{data_dir} lacks {stem}[.gz]: give the Fashion-MNIST folder (e.g. /usr/share/datasets/fashion-mnist)")


def knn_two_fold(mu, labels, neighbours=5):
    """Each image's class by a vote of its nearest neighbours among the other fold (the top bit of Knuth's
    multiplicative hash of the position); a tie goes to the class of the nearer neighbour."""
    n = len(mu)
    fold = (np.arange(n, dtype=np.uint64) * np.uint64(2654435761) & MASK) >> np.uint64(31)
    correct = 0
    for i in range(n):
        others = np.nonzero(fold != fold[i])[0]
        d2 = ((mu[others].astype(np.float64) - mu[i].astype(np.float64)) ** 2).sum(axis=1)
        nearest = others[np.argsort(d2, kind="stable")[:neighbours]]
        votes = np.bincount(labels[nearest], minlength=10)
        best = labels[nearest[0]]
        for j in nearest:
            if votes[labels[j]] > votes[best]:
                best = labels[j]
        correct += best == labels[i]
    return correct / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("data")
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kl", choices=["seed", "standard"], default=None, help="default: the checkpoint's metadata, else seed")
    a = ap.parse_args()

    if a.images < 1 or a.k < 1:
        fail("--images and --k must be at least 1")
    vae = load_run(a.run)
    kl_kind = a.kl or read_safetensors(os.path.join(a.run, "model.safetensors"))[1].get("kl", "seed")
    prior_var = 0.5 if kl_kind == "seed" else 1.0
    c, h, w = vae.image
    images = read_idx(a.data, "t10k-images-idx3-ubyte")[: a.images]
    if c != 1 or images.shape[1:] != (h, w):
        fail(f"{a.data} holds {images.shape[1]}x{images.shape[2]} gray images but the model takes {c}x{h}x{w}: give the IDX folder the run trained on")
    pixels = images.reshape(-1, h * w)
    labels = read_idx(a.data, "t10k-labels-idx1-ubyte")[: a.images].astype(np.int64)
    n, k = len(pixels), a.k
    # The native kernels: oneDNN's conv_transpose2d is wrong on some AMD Zen 5 CPUs (oracle.py).
    oracle.use_native_kernels()
    oracle.require_right(oracle.model_convolutions(vae, encoder_batches=[n], decoder_batches=[k]))
    x = torch.from_numpy(pixels.astype(np.float32) / np.float32(255))

    with torch.no_grad():
        mu, sigma = vae.encoder(x.reshape(n, 1, h, w))
        lat = mu.shape[1]
        log_w = np.zeros((n, k))
        bce0 = np.zeros(n)
        for i in range(n):
            eps = np.stack([philox_normal(a.seed, s, np.arange(i * lat, (i + 1) * lat, dtype=np.uint64)) for s in range(k)])
            eps_t = torch.from_numpy(eps)
            z = mu[i] + sigma[i] * eps_t                       # (k, lat), float32 as Vae.Gpu's
            y = vae.decoder(z).reshape(k, h * w)
            xi = x[i].expand(k, h * w)
            bce = -(xi * torch.log(y + 1e-9) + (1 - xi) * torch.log(1 - y + 1e-9)).sum(dim=1).double()
            z64, mu64, s64 = z.double(), mu[i].double(), sigma[i].double()
            log_prior = (-0.5 * math.log(2 * math.pi * prior_var) - z64 ** 2 / (2 * prior_var)).sum(dim=1)
            log_post = (-0.5 * torch.log(2 * math.pi * s64 ** 2) - (z64 - mu64) ** 2 / (2 * s64 ** 2)).sum(dim=1)
            log_w[i] = (-bce + log_prior - log_post).numpy()
            bce0[i] = bce[0].item()

    bound = torch.logsumexp(torch.from_numpy(log_w), dim=1).numpy() - math.log(k)
    m, s = mu.double().numpy(), sigma.double().numpy()
    if kl_kind == "seed":   # KL(N(mu, s^2) || N(0, 1/2))
        kl_dims = (np.log(math.sqrt(0.5) / s) + (s ** 2 + m ** 2) / (2 * 0.5) - 0.5).mean(axis=0)
        trained_kl = (m ** 2 + s ** 2 - np.log(s) - 0.5).sum(axis=1).mean()
    else:                   # KL(N(mu, s^2) || N(0, 1))
        kl_dims = (-np.log(s) + (s ** 2 + m ** 2) / 2 - 0.5).mean(axis=0)
        trained_kl = kl_dims.sum()
    xs = pixels.astype(np.float32) / np.float32(255)
    xs = xs.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -(np.where(xs > 0, xs * np.log(xs), 0) + np.where(xs < 1, (1 - xs) * np.log(1 - xs), 0))
    bce_mean = bce0.mean()
    print(json.dumps({
        "images": n,
        "loss": bce_mean + trained_kl,
        "bce": bce_mean,
        "kl": kl_dims.sum(),
        "kl_per_dim": kl_dims.tolist(),
        "elbo": -(bce_mean + kl_dims.sum()),
        "bce_floor": entropy.sum(axis=1).mean(),
        "active_units": int((m.var(axis=0, ddof=1) > 0.01).sum()),
        "iwae": {"k": k, "bound": bound.mean(), "stderr": bound.std(ddof=1) / math.sqrt(n), "images": n},
        "classes": {"probe_accuracy": knn_two_fold(mu.numpy(), labels)},
    }, indent=2))


if __name__ == "__main__":
    main()
