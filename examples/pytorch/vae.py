"""The problem set's Encoder, Decoder and VAE in PyTorch, with the names and layouts Vae.Gpu's checkpoints use.

A Vae.Gpu run's model.safetensors loads into VAE(c1, c2, lat, k) with a strict load_state_dict, and a
state_dict saved from this VAE with safetensors.torch.save_file is read by `vae-gpu analyze`.
"""
import json
import os
import struct
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as missing:
    sys.exit(f"error: {missing.name or missing} is not installed for {sys.executable}: install Debian's python3-torch "
             f"and python3-numpy (or pip install torch numpy) to run the PyTorch examples")

D = 28  # Fashion-MNIST images are 28 x 28


class Encoder(nn.Module):
    def __init__(self, c1, c2, lat, k):
        super(Encoder, self).__init__()
        self.conv1 = nn.Conv2d(1, c1, k)
        self.conv2 = nn.Conv2d(c1, c2, k)
        features = c2 * (D - 2 * (k - 1)) ** 2  # two valid convolutions (the notebook's count)
        self.mean = nn.Linear(features, lat)
        self.std = nn.Linear(features, lat)

    def forward(self, x):
        h = F.relu(self.conv2(F.relu(self.conv1(x)))).flatten(1)
        return self.mean(h), torch.exp(self.std(h))


class Decoder(nn.Module):
    def __init__(self, c1, c2, lat, k):
        super(Decoder, self).__init__()
        self.c2, self.side = c2, D - 2 * (k - 1)
        self.linear = nn.Linear(lat, c2 * self.side * self.side)
        self.deconv1 = nn.ConvTranspose2d(c2, c1, k)
        self.deconv2 = nn.ConvTranspose2d(c1, 1, k)

    def forward(self, z):
        h = F.relu(self.linear(z)).unflatten(1, (self.c2, self.side, self.side))
        return torch.sigmoid(self.deconv2(F.relu(self.deconv1(h))))


class VAE(nn.Module):
    def __init__(self, c1, c2, lat, k):
        super(VAE, self).__init__()
        self.encoder = Encoder(c1, c2, lat, k)
        self.decoder = Decoder(c1, c2, lat, k)

    def r_loss(self, x, y):
        """Summed binary cross-entropy of reconstruction y against target images x."""
        return -(x * torch.log(y + 1e-9) + (1 - x) * torch.log(1 - y + 1e-9)).sum()

    def kl_loss(self, mu, sigma):
        """The problem set's KL term: sum(mu^2 + sigma^2 - log sigma - 1/2)."""
        return (mu ** 2 + sigma ** 2 - torch.log(sigma) - 0.5).sum()

    def gaussian(self, mu, sigma):
        return mu + sigma * torch.randn_like(sigma)

    def forward(self, x):
        mu, sigma = self.encoder(x)
        y = self.decoder(self.gaussian(mu, sigma))
        self.loss = self.r_loss(x, y) + self.kl_loss(mu, sigma)
        return y

    def backward(self):
        self.loss.backward()


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file; safetensors.torch when installed, else the format read by hand."""
    try:
        from safetensors import safe_open
        with safe_open(path, framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, (f.metadata() or {})
    except ImportError:
        data = open(path, "rb").read()
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + n])
        metadata = header.pop("__metadata__", {})
        body = data[8 + n:]
        tensors = {}
        for name, t in header.items():
            assert t["dtype"] == "F32", f"{name} is {t['dtype']}"
            start, end = t["data_offsets"]
            tensors[name] = torch.from_numpy(np.frombuffer(body[start:end], dtype="<f4").copy()).reshape(t["shape"])
        return tensors, metadata


def fail(message):
    """Bad input: one line naming what is wrong and what to do, and exit 1."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def load_vae(path):
    """A VAE with the weights of a safetensors checkpoint; c1, c2, lat, k come from the shapes."""
    if not os.path.isfile(path):
        fail(f"{path} does not exist: give a folder that `vae-gpu train` or `vae-gpu run` wrote, or a PyTorch state_dict saved there")
    try:
        tensors, _ = read_safetensors(path)
    except Exception as e:  # the safetensors package and the hand reader raise different types
        fail(f"{path} is not a readable safetensors file ({str(e).splitlines()[0] if str(e) else type(e).__name__}): "
             f"train again or restore the file")
    try:
        c1, _, k, _ = tensors["encoder.conv1.weight"].shape
        c2 = tensors["encoder.conv2.weight"].shape[0]
        lat = tensors["encoder.mean.weight"].shape[0]
        vae = VAE(c1, c2, lat, k)
        vae.load_state_dict(tensors, strict=True)
    except (KeyError, RuntimeError, ValueError) as e:
        fail(f"{path} is not a checkpoint of the problem set's VAE ({str(e).strip().splitlines()[0]})")
    return vae.eval()


def load_run(run):
    """The VAE of a run folder, checked against the run's metrics.json where it has one (a state_dict saved by
    PyTorch has none)."""
    if not os.path.isdir(run):
        fail(f"run folder {run} does not exist: give a folder that `vae-gpu train` or `vae-gpu run` wrote")
    vae = load_vae(os.path.join(run, "model.safetensors"))
    metrics = os.path.join(run, "metrics.json")
    if not os.path.exists(metrics):
        return vae
    try:
        with open(metrics) as f:
            config = json.load(f)["config"]
        recorded = {key: config[key] for key in ("c1", "c2", "latent", "kernel")}
        if not all(type(v) is int for v in recorded.values()):
            raise ValueError("c1, c2, latent and kernel must be whole numbers")
    except (OSError, ValueError, KeyError, TypeError) as e:
        fail(f"{metrics} is corrupt ({'no field ' + str(e) if isinstance(e, KeyError) else e}): train again or restore the file")
    actual = {"c1": vae.encoder.conv1.out_channels, "c2": vae.encoder.conv2.out_channels,
              "latent": vae.encoder.mean.out_features, "kernel": vae.encoder.conv1.kernel_size[0]}
    differ = [f"{key} {recorded[key]} there, {actual[key]} in model.safetensors" for key in actual if recorded[key] != actual[key]]
    if differ:
        fail(f"the model in {run} does not match its metrics.json ({'; '.join(differ)}): the folder holds files of two "
             f"runs; train again or restore the files")
    return vae
