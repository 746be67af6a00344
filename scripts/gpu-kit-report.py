"""scripts/gpu-kit's report: OUT/report.json (every step's result) and OUT/report.md (the tables).

    python3 scripts/gpu-kit-report.py WORK OUT ACCELERATOR REHEARSAL SECONDS

WORK holds steps.tsv (name, exit, seconds, limit, status per step) and each step's NAME.out and NAME.err.
A step that failed or never ran leaves its part of the report as null; the rest is still written.
"""
import json
import pathlib
import sys


def read(path, limit=None):
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    return text if limit is None else text[-limit:]


def read_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def num(v, fmt):  # non-finite numbers arrive as null
    return "n/a" if v is None else format(v, fmt)


def main():
    work, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    accelerator, rehearsal, seconds = sys.argv[3], sys.argv[4] == "1", int(sys.argv[5])
    steps = []
    for line in (work / "steps.tsv").read_text().splitlines():
        name, rc, secs, limit, status = line.split("\t", 4)
        steps.append({"name": name, "exit": int(rc), "seconds": float(secs), "limit_seconds": int(limit), "status": status})
    ok = {s["name"]: s["exit"] == 0 for s in steps}

    def output(name, limit=20000):
        return {"stdout": read(work / f"{name}.out", limit), "stderr": read(work / f"{name}.err", limit)} if name in ok else None

    b128, b1024 = read_json(work / "bench-128.out"), read_json(work / "bench-1024.out")
    run = work / "run"
    report = {
        "accelerator": accelerator, "rehearsal": rehearsal, "seconds": seconds,
        "device": (b128 or b1024 or {}).get("accelerator"),
        "steps": steps,
        "devices": read_json(work / "devices.out"),
        "check": output("check"), "tune": output("tune"),
        "bench_128": b128, "bench_1024": b1024,
        "training": {"train": output("train", 4000), "resume": output("resume", 4000),
                     "metrics": read_json(run / "metrics.json")},
        "analysis": read_json(run / "analysis" / "report.json"),
        "evaluation": read_json(work / "evaluate.out"),
        "peer": read_json(work / "peer.out"), "peer_output": output("peer", 4000),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))

    md = [f"# GPU kit: {report['device'] or accelerator}" + (" (rehearsal without CUDA)" if rehearsal else ""), "",
          f"{len(steps)} steps in {seconds} s; {sum(1 for s in steps if s['exit'] != 0)} not ok.", "",
          "| step | status | seconds | limit |", "|---|---|---:|---:|"]
    md += [f"| {s['name']} | {s['status']} | {s['seconds']:.1f} | {s['limit_seconds']} |" for s in steps]
    check = read(work / "check.out")
    if check:
        md += ["", "## check", "", "```"] + [l for l in check.splitlines() if not l.startswith("  ")][-12:] + ["```"]
    md += ["", "## Training speed", "", "| who | batch | images/s | results | launches per step | peak memory (MiB) |", "|---|---:|---:|---|---:|---:|"]
    for b in (b128, b1024):
        if b:
            t = b["training"]
            results = "right" if b["check"]["all_agree"] else "WRONG (see check)"
            md.append(f"| vae-gpu ({b['profile']['source']}) | {b['batch']} | {num(t['images_per_second'], '.0f')} | {results} | {t['launches_per_step']} | {t['peak_memory_bytes'] / 2**20:.0f} |")
    peer = report["peer"]
    if peer:
        md.append(f"| {peer['peer']} on {peer['name']} | {peer['batch']} | {peer['images_per_second']:.0f} | {peer.get('results', 'not said')} | | |")
    if b128:
        md += ["", "## Kernels (batch 128)", "", "| kernel (shape) | calls | ms/step | GFLOP/s |", "|---|---:|---:|---:|"]
        for k in sorted(b128["kernels"], key=lambda k: -(k["median_ms"] or 0)):
            md.append(f"| {k['name']} | {k['calls_per_step']} | {num(k['median_ms'], '.3f')} | {num(k['gflop_per_second'], '.1f')} |")
        if b128.get("versions"):
            md += ["", "## Versions (batch 128)", "", "| version | shape | default | error / tolerance | ms | GFLOP/s |", "|---|---|:-:|---:|---:|---:|"]
            for r in b128["versions"]:
                if r["not_run"]:
                    md.append(f"| {r['family']} v{r['version']} | {r['shape']} | | not run: {r['not_run']} | | |")
                else:
                    md.append(f"| {r['family']} v{r['version']} {r['kernel']} | {r['shape']} | {'yes' if r['default'] else ''} | "
                              f"{num(r['error'], '.3f')} | {num(r['median_ms'], '.3f')} | {num(r['gflop_per_second'], '.1f')} |")
    ev = report["evaluation"]
    if ev:
        iw = ev["iwae"]
        md += ["", "## Evaluation (evaluate --json)", "",
               f"IWAE bound k = {iw['k']} over {iw['images']} images: {num(iw['bound'], '.2f')} ± {num(iw['stderr'], '.2f')} nats; "
               f"{num(iw['pairs_per_second'], '.0f')} images x samples per second ({num(iw['seconds'], '.1f')} s). "
               f"ELBO {num(ev['elbo'], '.2f')}, BCE floor {num(ev['bce_floor'], '.2f')}, active units {ev['active_units']}."]
    metrics = report["training"]["metrics"]
    if metrics:
        md += ["", "## Short training run (train, then resume)", "", "```", json.dumps(metrics.get("epochs", metrics), indent=1)[:3000], "```"]
    analysis = read(run / "analysis" / "report.md")
    if analysis:
        md += ["", "## Analysis", ""] + analysis.splitlines()[:40]
    (out / "report.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
