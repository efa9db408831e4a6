"""Parameter counts and FLOPs of every architecture, ours beside the papers'.

    PYTHONPATH=src python benchmarks/model_size.py [--json out.json]

--json writes ``{"provenance": ..., "results": rows}`` (provenance.py: command, commit, machine);
benchmarks/results/model_size.json is the README's table (benchmarks/readme_tables.py).

A registered architecture without a row in ROWS is measured at its "paper" preset, with a
note naming it: add its rows (with the paper's counts) to ROWS below (docs/contributing.md).

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` on the meta device (no
arithmetic is done, so this runs in seconds on a laptop). It counts matrix products and
convolutions (2 FLOPs per multiply-add), not element-wise operations. Papers in image
restoration usually report multiply-adds under the name "FLOPs"; both are printed.
Input: 400 x 400 x 3 (GRAN Table 3), padded up to the model's size_divisor where needed
(as inference pads), with in/out channels set to 3 so the numbers are comparable.
Parameter counts use each paper's own channels (GRAN 3 in/out; c2f_unet, SGPN and
PSF-CycleGAN 1 in/out).

Notes on the papers' numbers:
* GRAN: 3,195,971 parameters vs 3.20 M. FLOPs: 128.35 G multiply-adds here vs 145.72 G; the
  paper does not say how it counted (GRAB's explicit P x P products alone would add 2 x 40000^2
  x 64 = 205 G multiply-adds at this size, so its count cannot include the explicit form).
* c2f_unet: widths are not printed; base 16 and levels of depth 5/4/3/2 reproduce the N=1,
  N=3, N=4 residual and N=4 concat rows within 0.1 %, and concat - residual at N=4 exactly
  (373,248). The N=2 row (1,986,116) and the concat N=2/N=3 rows (equal to residual ones)
  do not fit any single structure together with the other rows; we take them as typos.
* SGPN: widths are not printed; only the total 19.34 M is known.
* PSF-CycleGAN: no parameter count in the paper; its U-Net depth is not printed either.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import provenance  # benchmarks/provenance.py: on the path when run as a script
import torch
from torch.utils.flop_counter import FlopCounterMode

from napari_microdeblur.core.registry import build_model, list_archs, preset_config

# (arch, preset or config overrides, label, paper parameter count, paper FLOPs (G), source)
ROWS = [
    (
        "gran",
        "paper",
        "GRAN (paper config)",
        3_200_000,
        145.72,
        "paper 000, Table 3 (3.20 M, 145.72 G)",
    ),
    ("gran", "edsr_baseline", "GRAN without GRAB (EDSR baseline)", None, None, ""),
    ("gran", "cpu_small", "GRAN cpu_small", None, None, ""),
    ("c2f_unet", {"levels": 1}, "c2f_unet N=1", 1_942_962, None, "paper 001, Table 1"),
    ("c2f_unet", {"levels": 2}, "c2f_unet N=2 residual", 1_986_116, None, "paper 001, Table 1"),
    ("c2f_unet", {"levels": 3}, "c2f_unet N=3 residual", 2_543_478, None, "paper 001, Table 1"),
    (
        "c2f_unet",
        "paper",
        "c2f_unet N=4 residual (paper config)",
        2_569_512,
        None,
        "paper 001, Table 1",
    ),
    ("c2f_unet", "concat", "c2f_unet N=4 concat", 2_942_760, None, "paper 001, Table 1"),
    ("c2f_unet", "cpu_small", "c2f_unet cpu_small", None, None, ""),
    (
        "sgpn",
        "paper",
        "SGPN generator (paper-like config)",
        19_340_000,
        None,
        "paper 004, Table 7 (19.34 M)",
    ),
    (
        "sgpn",
        "fpn128",
        "SGPN fpn128 (uniform FPN width 128)",
        19_340_000,
        None,
        "paper 004, Table 7 (19.34 M)",
    ),
    ("sgpn", "cpu_small", "SGPN cpu_small", None, None, ""),
    (
        "psf_cyclegan",
        "paper_2d",
        "PSF-CycleGAN G_AB + PSF, 2D",
        None,
        None,
        "paper 003 gives no count",
    ),
    (
        "psf_cyclegan",
        "paper",
        "PSF-CycleGAN G_AB + PSF, 3D (paper config)",
        None,
        None,
        "paper 003 gives no count",
    ),
    ("psf_cyclegan", "cpu_small", "PSF-CycleGAN cpu_small (2D)", None, None, ""),
    ("wiener_unet", "paper", "Deep Wiener U-Net (PSF-aware default)", None, None, "no paper count"),
]

GRAN_PAPER_GFLOPS = 145.72


def _config(arch: str, spec) -> dict:
    return preset_config(arch, spec) if isinstance(spec, str) else dict(spec)


def count_params(arch: str, cfg: dict) -> int:
    """Parameters of the registered model with the paper's channel defaults."""
    with torch.device("meta"):
        model = build_model(arch, cfg)
    return sum(p.numel() for p in model.parameters())


def count_flops(
    arch: str, cfg: dict, size: int = 400, channels: int = 3
) -> tuple[float, tuple[int, ...]]:
    """FLOPs (2 per multiply-add) of one forward pass on a size x size x channels image."""
    with torch.device("meta"):
        needs_psf = getattr(build_model(arch, cfg), "needs_psf", False)
    if needs_psf:  # one channel (colour runs channel by channel) and FFTs: count on the CPU
        model = build_model(arch, cfg).eval()
        shape = (1, 1, size, size)
        psf = torch.full((25, 25), 1 / 625)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(torch.rand(shape), psf)
        return float(counter.get_total_flops()) * channels, (1, channels, size, size)  # a pass each
    cfg = {**cfg, "in_channels": channels, "out_channels": channels}
    with torch.device("meta"):
        model = build_model(arch, cfg)
    div = model.size_divisor
    side = int(math.ceil(size / div) * div)
    shape = (1, channels) + (side,) * 2
    if model.spatial_dims == 3:  # a 3-slice-deep volume would not survive pooling; use a 64^3 patch
        side3 = int(math.ceil(64 / div) * div)
        shape = (1, channels, side3, side3, side3)
    x = torch.empty(shape, device="meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return float(counter.get_total_flops()), shape


def rows_to_measure() -> list[tuple]:
    """ROWS, plus a "paper" preset row for each registered arch that has none (said on
    stderr); an arch in ROWS that is not registered is refused."""
    registered = list_archs()
    unknown = sorted({arch for arch, *_ in ROWS} - set(registered))
    if unknown:
        raise SystemExit(f"model_size.py: ROWS names {', '.join(unknown)}, not registered "
                         f"({', '.join(registered)}): remove those rows or fix the names")
    missing = [arch for arch in registered if arch not in {a for a, *_ in ROWS}]
    for arch in missing:
        print(f"model_size.py: no row for arch {arch!r} in ROWS (benchmarks/model_size.py): "
              "measured its 'paper' preset; add its rows there", file=sys.stderr)
    return ROWS + [(arch, "paper", f"{arch} (paper preset; no row in ROWS)", None, None, "")
                   for arch in missing]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the rows, under their provenance, as JSON "
                        "to this file")
    args = parser.parse_args(argv)
    rows = []
    for arch, spec, label, paper_params, paper_gflops, source in rows_to_measure():
        cfg = _config(arch, spec)
        params = count_params(arch, cfg)
        flops, shape = count_flops(arch, cfg)
        rows.append(
            {
                "arch": arch,
                "config": spec if isinstance(spec, str) else cfg,
                "label": label,
                "params": params,
                "paper_params": paper_params,
                "params_diff_pct": None
                if not paper_params
                else round(100 * (params - paper_params) / paper_params, 3),
                "input_shape": list(shape),
                "gflops": round(flops / 1e9, 2),
                "gmacs": round(flops / 2e9, 2),
                "paper_gflops": paper_gflops,
                "vs_gran_paper_145.72G_pct": round(100 * (flops / 2e9) / GRAN_PAPER_GFLOPS, 1),
                "paper_source": source,
            }
        )
    head = (
        f"{'model':44s} {'params':>11s} {'paper':>11s} {'diff %':>7s} "
        f"{'GMACs':>8s} {'GFLOPs':>8s}  input"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        pp = f"{r['paper_params']:,}" if r["paper_params"] else "-"
        dp = f"{r['params_diff_pct']:+.2f}" if r["params_diff_pct"] is not None else "-"
        print(
            f"{r['label']:44s} {r['params']:>11,} {pp:>11s} {dp:>7s} "
            f"{r['gmacs']:>8.2f} {r['gflops']:>8.2f}  "
            f"{'x'.join(map(str, r['input_shape'][1:]))}"
        )
    print(
        f"\nGRAN paper: 3.20 M parameters, {GRAN_PAPER_GFLOPS} G 'FLOPs' at 400x400x3 "
        "(multiply-adds, as usual in restoration papers). GMACs above = multiply-adds of "
        "convolutions and matrix products."
    )
    text = json.dumps(rows, indent=2)
    print(text)
    if args.json:  # with the command, commit and machine, as the README's tables need
        provenance.write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
