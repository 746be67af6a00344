"""The PyTorch peer of `vae-gpu bench`: training images/s of the same model, batch and optimizer.

    python3 examples/pytorch/bench.py [--batch 128] [--steps 20] [--repeats 5] [--device cpu|cuda] [--json]

Trains examples/pytorch/vae.py's VAE(16, 32, 16, 3) with Adam (lr 1e-3) on random images shaped like
Fashion-MNIST and prints the median over repeats of steps/time, in images/s, on the CPU with one thread
per core (or on a CUDA GPU with --device cuda, timed after the GPU finishes). Run it beside `vae-gpu bench`
(alternating, one at a time) to compare on one machine.

Beside the figure it says whether this PyTorch computes the model's convolutions right here, through the path
it trains with (oneDNN on the CPU; oracle.py): `results: right` or `results: WRONG on this CPU (...)`.
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vae import VAE  # noqa: E402  (first: it names a missing torch or numpy in one line)
import torch  # noqa: E402
import oracle  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda but this torch sees no CUDA GPU (torch.cuda.is_available() is False)")
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    # Debian's build starts with one thread here; every core is the fair comparison with `bench`.
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(1)
    vae = VAE(16, 32, 16, 3).to(device)
    adam = torch.optim.Adam(vae.parameters(), lr=1e-3)
    x = (torch.randint(0, 256, (args.batch, 1, 28, 28)) / 255.0).float().to(device)
    results = oracle.verdict(oracle.self_check(oracle.model_convolutions(vae, [args.batch], [args.batch]), device))

    def step():
        adam.zero_grad()
        vae.forward(x)
        vae.backward()
        adam.step()

    # Warm-up as vae-gpu bench's: at least 3 steps and 2 seconds.
    warm_start, warm_steps = time.perf_counter(), 0
    while warm_steps < 3 or time.perf_counter() - warm_start < 2:
        step()
        sync()
        warm_steps += 1
    rates = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        sync()
        rates.append(args.batch * args.steps / (time.perf_counter() - t0))
    if args.json:
        print(json.dumps({"peer": f"pytorch {torch.__version__}", "device": str(device),
                          "name": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads",
                          "batch": args.batch, "images_per_second": statistics.median(rates), "runs": rates,
                          "results": results, "versions": oracle.versions()}))
        return
    print(f"pytorch {torch.__version__} ({torch.get_num_threads()} threads): training median "
          f"{statistics.median(rates):.1f} images/s (runs: {', '.join(f'{r:.1f}' for r in rates)}); results: {results}")


if __name__ == "__main__":
    main()
