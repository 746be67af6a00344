"""Loads a Vae.Gpu run into the problem set's PyTorch VAE and reproduces its 7x7 traversal and reconstructions.

    python3 examples/pytorch/reproduce.py RUN_DIR [ANALYSIS_DIR [OUT_DIR]]

RUN_DIR holds model.safetensors; ANALYSIS_DIR (default RUN_DIR, as `vae-gpu run` writes it) the outputs of
`vae-gpu analyze` (report.json, reconstructions.npy, traverse-7x7.npy, mu.npy). Writes to OUT_DIR (default
ANALYSIS_DIR/pytorch): traverse-7x7.npy [7, 7, H, W], reconstructions.npy [2, 10, H, W] (the test images,
then decoder(mu) of each; [.., C, H, W] for colour images) and mu.npy [10, lat] of those images, and prints the
largest difference from Vae.Gpu's files. Both kinds of model load: the problem set's and the notebook's.

It computes with PyTorch's native kernels and first checks them at the model's shapes (oracle.py): where
PyTorch is wrong on this CPU it says so in one line and exits with oracle.WRONG_ORACLE_EXIT (3).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vae import fail, load_run  # noqa: E402  (first: it names a missing torch or numpy in one line)
import numpy as np  # noqa: E402
import torch  # noqa: E402
import oracle  # noqa: E402


def read_analysis(folder, name):
    """One of `vae-gpu analyze`'s outputs, or one line naming what is missing or corrupt."""
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        fail(f"{path} does not exist: give the folder `vae-gpu analyze --out` (or `vae-gpu run`) wrote")
    try:
        if name.endswith(".json"):
            with open(path) as f:
                return json.load(f)
        return np.load(path)
    except (OSError, ValueError) as e:
        fail(f"{path} is corrupt ({e}): run `vae-gpu analyze` again")


def main():
    if not 2 <= len(sys.argv) <= 4:
        sys.exit("usage: python3 examples/pytorch/reproduce.py RUN_DIR [ANALYSIS_DIR [OUT_DIR]]")
    run = sys.argv[1]
    analysis = sys.argv[2] if len(sys.argv) > 2 else run
    out = sys.argv[3] if len(sys.argv) > 3 else os.path.join(analysis, "pytorch")
    vae = load_run(run)
    report = read_analysis(analysis, "report.json")
    ours = read_analysis(analysis, "reconstructions.npy")
    theirs = read_analysis(analysis, "traverse-7x7.npy")
    their_mu = read_analysis(analysis, "mu.npy")[:ours.shape[1]]
    try:
        i1, i2 = report["dims"]
        v = report["traversal_values"]  # norm.ppf(linspace(0.05, 0.95, 7))
    except (KeyError, TypeError, ValueError) as e:
        fail(f"{os.path.join(analysis, 'report.json')} lacks dims or traversal_values ({e}): run `vae-gpu analyze` again")
    lat = vae.encoder.mean.out_features
    channels, h, w = vae.image
    shape = (h, w) if channels == 1 else (channels, h, w)  # as Vae.Gpu's .npy files hold images: gray without a channel axis
    # The native kernels: oneDNN's conv_transpose2d is wrong on some AMD Zen 5 CPUs (oracle.py).
    oracle.use_native_kernels()
    oracle.require_right(oracle.model_convolutions(vae, encoder_batches=[ours.shape[1]], decoder_batches=[49, ours.shape[1]]))
    os.makedirs(out, exist_ok=True)

    with torch.no_grad():
        # Element [r, c] decodes z with z[i1] = v[c], z[i2] = v[r], every other entry 0.
        z = torch.zeros(7, 7, lat)
        for r in range(7):
            for c in range(7):
                z[r, c, i1], z[r, c, i2] = v[c], v[r]
        grid = vae.decoder(z.reshape(49, lat)).reshape(7, 7, *shape).numpy()
        # The same ten test images Vae.Gpu reconstructed (its file's first row), through decoder(mu).
        count = ours.shape[1]
        images = torch.from_numpy(ours[0].copy()).reshape(count, channels, h, w)
        mu, _ = vae.encoder(images)
        recon = np.stack([ours[0], vae.decoder(mu).reshape(count, *shape).numpy()])

    np.save(os.path.join(out, "traverse-7x7.npy"), grid.astype("<f4"))
    np.save(os.path.join(out, "reconstructions.npy"), recon.astype("<f4"))
    np.save(os.path.join(out, "mu.npy"), mu.numpy().astype("<f4"))
    print(f"traverse-7x7: largest difference from Vae.Gpu {np.abs(grid - theirs).max():.2e}")
    print(f"reconstructions: largest difference from Vae.Gpu {np.abs(recon - ours).max():.2e}")
    print(f"mu of the 10 images: largest difference from Vae.Gpu {np.abs(mu.numpy() - their_mu).max():.2e}")


if __name__ == "__main__":
    main()
