"""Whether this PyTorch computes the model's convolutions right on this CPU, checked before it judges or races anything.

PyTorch 2.6's oneDNN (3.7.2, `deconvolution conv:any+jit:avx512_core`) gives wrong conv_transpose2d results for
small channel counts on some AMD Zen 5 machines: errors of 0.6-4, sometimes NaN, different on each run with two
threads (docs/pytorch-on-zen5.md). So:
- an oracle (reproduce.py, evaluate.py) computes with PyTorch's native kernels (`use_native_kernels`) and first
  checks those at the model's own shapes (`require_right`): if PyTorch is wrong here it says so in one line and
  exits with WRONG_ORACLE_EXIT, so that nobody blames Vae.Gpu for PyTorch's error;
- a peer in a speed comparison (bench.py) keeps the path it trains with and says whether its results are right
  (`verdict`).

The check: each convolution of the model on seeded random inputs, float32 against the same op in float64.
"""
import os
import platform
import re
import sys

import torch
import torch.nn.functional as F
from torch import nn

# An exit code of its own, so that a test meeting it fails with PyTorch's error, not with "Vae.Gpu differs".
WRONG_ORACLE_EXIT = 3
# float32 sums of at most a few hundred products of O(1) terms are off by ~1e-6 of the result's scale; the
# faults seen are 0.6 and more, or NaN.
ATOL, RTOL = 1e-4, 1e-4
# Test hook: an op named here gets 1.0 added to its float32 result, so the suite can prove that a wrong oracle
# is caught and reported as such on machines whose PyTorch is right.
FAULT_VARIABLE = "VAE_GPU_ORACLE_FAULT"


def use_native_kernels():
    """PyTorch's own convolution kernels instead of oneDNN's, which are wrong on some AMD Zen 5 CPUs."""
    torch.backends.mkldnn.enabled = False


def versions():
    """'PyTorch 2.6.0+debian, oneDNN 3.7.2 (off)': what computed, for the one-line verdicts."""
    found = re.search(r"(?:MKL-DNN|oneDNN)\D*v?([0-9][0-9.]*)", torch.__config__.show())
    onednn = found.group(1) if found else "unknown"
    state = "on" if torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled else "off"
    return f"PyTorch {torch.__version__}, oneDNN {onednn} ({state})"


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        name = re.search(r"^model name\s*:\s*(.*)$", info, re.M)
        family = re.search(r"^cpu family\s*:\s*(\d+)", info, re.M)
        return f"{name.group(1).strip() if name else platform.processor()}" + (f", cpu family {family.group(1)}" if family else "")
    except OSError:
        return platform.processor() or platform.machine()


def model_convolutions(vae, encoder_batches, decoder_batches, size=None):
    """(op, batch, in channels, out channels, input side, kernel) of every convolution the model runs at the
    given batch sizes (oneDNN's faults depend on the batch too); the side is the image's height."""
    encoder, decoder = [], []
    side = size if size is not None else getattr(vae, "image", (1, 28, 28))[1]
    for module in vae.encoder.modules():
        if isinstance(module, nn.Conv2d):
            encoder.append(("conv2d", module.in_channels, module.out_channels, side, module.kernel_size[0]))
            side -= module.kernel_size[0] - 1
    for module in vae.decoder.modules():
        if isinstance(module, nn.ConvTranspose2d):
            decoder.append(("conv_transpose2d", module.in_channels, module.out_channels, side, module.kernel_size[0]))
            side += module.kernel_size[0] - 1
    return ([(op, b, *rest) for b in encoder_batches for op, *rest in encoder]
            + [(op, b, *rest) for b in decoder_batches for op, *rest in decoder])


def describe(shape):
    op, batch, cin, cout, side, k = shape
    return f"{op} (batch {batch}, {cin} -> {cout} channels, {side}x{side}, kernel {k})"


def self_check(shapes, device="cpu", seed=0):
    """[(shape, error)] of the convolutions whose float32 result is wrong against float64 (error: the largest
    |difference| in units of its tolerance, or nan); empty when PyTorch is right here."""
    fault = os.environ.get(FAULT_VARIABLE, "")
    generator = torch.Generator().manual_seed(seed)
    wrong = []
    for shape in shapes:
        op, batch, cin, cout, side, k = shape
        x = torch.randn(batch, cin, side, side, generator=generator)
        w = torch.randn(*((cout, cin) if op == "conv2d" else (cin, cout)), k, k, generator=generator) * 0.1
        b = torch.randn(cout, generator=generator) * 0.1
        f = F.conv2d if op == "conv2d" else F.conv_transpose2d
        with torch.no_grad():
            got = f(x.to(device), w.to(device), b.to(device)).cpu().double()
            want = f(x.double(), w.double(), b.double())
        if op == fault:
            got = got + 1.0
        error = ((got - want).abs() / (ATOL + RTOL * want.abs())).max().item()
        if not error <= 1.0:  # nan counts as wrong
            wrong.append((shape, (got - want).abs().max().item()))
    return wrong


def first_wrong(wrong):
    """'op (batch, channels, size, kernel) is off from float64 by E' for the first wrong convolution, and how many more."""
    shape, error = wrong[0]
    more = f", and {len(wrong) - 1} more shapes are wrong" if len(wrong) > 1 else ""
    return f"float32 {describe(shape)} is off from float64 by {error:.3g}{more}"


def verdict(wrong):
    """'right', or 'WRONG on this CPU (op, shape, error)'."""
    return "right" if not wrong else f"WRONG on this CPU ({first_wrong(wrong)})"


def require_right(shapes):
    """Exits with WRONG_ORACLE_EXIT and one line when this PyTorch computes any of the shapes wrong here."""
    wrong = self_check(shapes)
    if wrong:
        print(f"error: PyTorch cannot be the oracle on this CPU ({cpu_name()}; {versions()}): its {first_wrong(wrong)}; "
              f"nothing was compared with Vae.Gpu (`vae-gpu check` holds every Vae.Gpu kernel to a float64 reference)",
              file=sys.stderr)
        sys.exit(WRONG_ORACLE_EXIT)


def main():
    """python3 examples/pytorch/oracle.py: the verdict on this machine, with oneDNN on and off, at the shapes of the
    default model, of the tests' small models, and those issue 29 found wrong on a Zen 5."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from vae import VAE
    torch.set_num_threads(os.cpu_count() or 1)  # as the peers train; two threads were wrong differently on each run
    shapes = (model_convolutions(VAE(16, 32, 16, 3), [128], [128])
              + model_convolutions(VAE(4, 8, 5, 3), [32], [49, 32])
              + model_convolutions(VAE(8, 12, 6, 5), [10], [10])
              + [("conv_transpose2d", 32, 1, 4, 28, 3), ("conv_transpose2d", 10, 12, 8, 20, 5)])
    print(f"{cpu_name()}; {torch.get_num_threads()} threads; {len(shapes)} convolutions, float32 against float64")
    native_right = True
    for onednn in (True, False):
        torch.backends.mkldnn.enabled = onednn
        wrong = self_check(shapes)
        native_right = onednn or not wrong
        print(f"{versions()}: {verdict(wrong)}")
    sys.exit(0 if native_right else WRONG_ORACLE_EXIT)


if __name__ == "__main__":
    main()
