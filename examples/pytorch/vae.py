"""The problem set's Encoder, Decoder and VAE in PyTorch, with the names and layouts Vae.Gpu's checkpoints use.

A Vae.Gpu run's model.safetensors loads into VAE(c1, c2, lat, k) with a strict load_state_dict, and a
state_dict saved from this VAE with safetensors.torch.save_file is read by `vae-gpu analyze`.
"""
import json
import struct

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

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


def load_vae(path):
    """A VAE with the weights of a safetensors checkpoint; c1, c2, lat, k come from the shapes."""
    tensors, _ = read_safetensors(path)
    c1, _, k, _ = tensors["encoder.conv1.weight"].shape
    c2 = tensors["encoder.conv2.weight"].shape[0]
    lat = tensors["encoder.mean.weight"].shape[0]
    vae = VAE(c1, c2, lat, k)
    vae.load_state_dict(tensors, strict=True)
    return vae.eval()
