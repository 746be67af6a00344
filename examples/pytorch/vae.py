"""The problem set's VAE and the seed notebook's in PyTorch, with the names and layouts Vae.Gpu's checkpoints use.

A Vae.Gpu run's model.safetensors loads into VAE(c1, c2, lat, k) (runs of --c1/--c2) or NotebookVAE(channels,
lat, kernel, size) (runs of --channels) with a strict load_state_dict, and a state_dict saved from either with
safetensors.torch.save_file is read by `vae-gpu analyze`.
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


def _sides(size):
    """(height, width) of an image size given as one side or a pair."""
    return (size, size) if isinstance(size, int) else tuple(size)


class Encoder(nn.Module):
    def __init__(self, c1, c2, lat, k, channels=1, size=D):
        super(Encoder, self).__init__()
        h, w = _sides(size)
        self.conv1 = nn.Conv2d(channels, c1, k)
        self.conv2 = nn.Conv2d(c1, c2, k)
        features = c2 * (h - 2 * (k - 1)) * (w - 2 * (k - 1))  # two valid convolutions
        self.mean = nn.Linear(features, lat)
        self.std = nn.Linear(features, lat)

    def forward(self, x):
        h = F.relu(self.conv2(F.relu(self.conv1(x)))).flatten(1)
        return self.mean(h), torch.exp(self.std(h))


class Decoder(nn.Module):
    def __init__(self, c1, c2, lat, k, channels=1, size=D):
        super(Decoder, self).__init__()
        h, w = _sides(size)
        self.c2, self.side = c2, (h - 2 * (k - 1), w - 2 * (k - 1))
        self.linear = nn.Linear(lat, c2 * self.side[0] * self.side[1])
        self.deconv1 = nn.ConvTranspose2d(c2, c1, k)
        self.deconv2 = nn.ConvTranspose2d(c1, channels, k)

    def forward(self, z):
        h = F.relu(self.linear(z)).unflatten(1, (self.c2, *self.side))
        return torch.sigmoid(self.deconv2(F.relu(self.deconv1(h))))


class Losses(nn.Module):
    """The problem set's loss, shared by both models."""

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


class VAE(Losses):
    """The problem set's VAE(c1, c2, lat, k); channels and size default to Fashion-MNIST's 1 x 28 x 28."""

    def __init__(self, c1, c2, lat, k, channels=1, size=D):
        super(VAE, self).__init__()
        self.image = (channels, *_sides(size))
        self.encoder = Encoder(c1, c2, lat, k, channels, size)
        self.decoder = Decoder(c1, c2, lat, k, channels, size)


# The seed notebook's classes (vae.ipynb), written for this project from its definitions: a list of conv layers,
# module names convs.{i}, mean, std, l1. The notebook fixes 48x48; here the image size is a parameter.

class NotebookEncoder(nn.Module):
    def __init__(self, channels, lat, kernel=3, size=48):
        super(NotebookEncoder, self).__init__()
        h, w = _sides(size)
        self.convs = nn.ModuleList(nn.Conv2d(c, c_next, kernel) for c, c_next in zip(channels, channels[1:]))
        cut = (kernel - 1) * (len(channels) - 1)
        self.mean = nn.Linear(channels[-1] * (h - cut) * (w - cut), lat)
        self.std = nn.Linear(channels[-1] * (h - cut) * (w - cut), lat)

    def forward(self, x):
        for conv in self.convs:
            x = F.relu(conv(x))
        x = torch.flatten(x, 1)
        return self.mean(x), torch.exp(self.std(x))


class NotebookDecoder(nn.Module):
    def __init__(self, channels, lat, kernel=3, size=48):
        super(NotebookDecoder, self).__init__()
        h, w = _sides(size)
        cut = (kernel - 1) * (len(channels) - 1)
        self.channels, self.side = channels, (h - cut, w - cut)
        self.l1 = nn.Linear(lat, channels[-1] * (h - cut) * (w - cut))
        reverse = list(reversed(channels))
        self.convs = nn.ModuleList(nn.ConvTranspose2d(c, c_next, kernel) for c, c_next in zip(reverse, reverse[1:]))

    def forward(self, z):
        z = torch.unflatten(F.relu(self.l1(z)), 1, (self.channels[-1], *self.side))
        for i, conv in enumerate(self.convs):
            z = conv(z)
            z = F.relu(z) if i < len(self.convs) - 1 else torch.sigmoid(z)
        return z


class NotebookVAE(Losses):
    """The notebook's VAE(channels, lat, kernel): channels = [image channels] + the conv layers' (the notebook
    prepends its 1)."""

    def __init__(self, channels, lat, kernel=3, size=48):
        super(NotebookVAE, self).__init__()
        self.image = (channels[0], *_sides(size))
        self.encoder = NotebookEncoder(channels, lat, kernel, size)
        self.decoder = NotebookDecoder(channels, lat, kernel, size)


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


def _square_side(features, channels, path):
    side = round((features / channels) ** 0.5)
    if side < 1 or channels * side * side != features:
        fail(f"{path}: encoder.mean.weight has {features} inputs, not {channels} channels of a square feature map; "
             f"give the run folder with its metrics.json (it records the image size)")
    return side


def load_vae(path, image=None):
    """The VAE of a safetensors checkpoint, the problem set's or the notebook's by its tensor names; sizes come
    from the shapes, the image (channels, height, width) from `image` or, when None, a square from the shapes."""
    if not os.path.isfile(path):
        fail(f"{path} does not exist: give a folder that `vae-gpu train` or `vae-gpu run` wrote, or a PyTorch state_dict saved there")
    try:
        tensors, _ = read_safetensors(path)
    except Exception as e:  # the safetensors package and the hand reader raise different types
        fail(f"{path} is not a readable safetensors file ({str(e).splitlines()[0] if str(e) else type(e).__name__}): "
             f"train again or restore the file")
    try:
        lat, features = tensors["encoder.mean.weight"].shape
        if "encoder.convs.0.weight" in tensors:
            convs = [tensors[f"encoder.convs.{i}.weight"] for i in range(sum(1 for t in tensors if t.startswith("encoder.convs.") and t.endswith(".weight")))]
            channels = [convs[0].shape[1]] + [c.shape[0] for c in convs]
            k = convs[0].shape[2]
            size = image[1:] if image else _square_side(features, channels[-1], path) + len(convs) * (k - 1)
            vae = NotebookVAE(channels, lat, k, size)
        else:
            c1, channels, k, _ = tensors["encoder.conv1.weight"].shape
            c2 = tensors["encoder.conv2.weight"].shape[0]
            size = image[1:] if image else _square_side(features, c2, path) + 2 * (k - 1)
            vae = VAE(c1, c2, lat, k, channels, size)
        vae.load_state_dict(tensors, strict=True)
    except (KeyError, RuntimeError, ValueError) as e:
        fail(f"{path} is not a checkpoint of the problem set's VAE or the notebook's ({str(e).strip().splitlines()[0]})")
    return vae.eval()


def describe(vae):
    """The sizes metrics.json records for this model."""
    e = vae.encoder
    sizes = {"latent": e.mean.out_features}
    if hasattr(e, "convs"):
        sizes.update(channels=[c.out_channels for c in e.convs], kernel=e.convs[0].kernel_size[0])
    else:
        sizes.update(c1=e.conv1.out_channels, c2=e.conv2.out_channels, kernel=e.conv1.kernel_size[0])
    return sizes


def load_run(run):
    """The VAE of a run folder, checked against the run's metrics.json where it has one (a state_dict saved by
    PyTorch has none); the image size is the one metrics.json records."""
    if not os.path.isdir(run):
        fail(f"run folder {run} does not exist: give a folder that `vae-gpu train` or `vae-gpu run` wrote")
    metrics = os.path.join(run, "metrics.json")
    if not os.path.exists(metrics):
        return load_vae(os.path.join(run, "model.safetensors"))
    try:
        with open(metrics) as f:
            config = json.load(f)["config"]
        keys = ("channels", "latent", "kernel") if "channels" in config and config["channels"] is not None else ("c1", "c2", "latent", "kernel")
        recorded = {key: config[key] for key in keys}
        image = (config.get("image_channels", 1), config.get("height", D), config.get("width", D))
        if not all(type(v) is int for v in list(image) + [v for key, v in recorded.items() if key != "channels"]):
            raise ValueError("the sizes must be whole numbers")
    except (OSError, ValueError, KeyError, TypeError) as e:
        fail(f"{metrics} is corrupt ({'no field ' + str(e) if isinstance(e, KeyError) else e}): train again or restore the file")
    vae = load_vae(os.path.join(run, "model.safetensors"), image)
    actual = describe(vae)
    differ = [f"{key} {recorded[key]} there, {actual.get(key)} in model.safetensors" for key in recorded if recorded[key] != actual.get(key)]
    if differ:
        fail(f"the model in {run} does not match its metrics.json ({'; '.join(differ)}): the folder holds files of two "
             f"runs; train again or restore the files")
    return vae
