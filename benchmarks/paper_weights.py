"""The shipped paper-regime weights against the input and the network they started from, on the
EM test crops of benchmarks/papers.py (ten 256-px crops of the EPFL, AxonDeepSeg, ISBI 2012 and
Gerhard 2013 test splits, protocol A, border 16): PSNR, SSIM and the gradient energy relative
to the sharp crop's (fine detail, which adversarial and perceptual losses aim to restore).

    python benchmarks/paper_weights.py [NAME_OR_FILE ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import papers  # noqa: E402

from napari_microdeblur.core.inference import deblur  # noqa: E402
from napari_microdeblur.core.method import MethodSpec  # noqa: E402
from napari_microdeblur.core.metrics import evaluate  # noqa: E402


def spec(name: str) -> MethodSpec:
    return MethodSpec("auto", weights=name) if name.endswith(".safetensors") else MethodSpec(name)


def gradient_energy(image: np.ndarray, border: int = 16) -> float:
    """Mean squared finite difference inside the border: how much fine detail an image has
    (a deblurred image below the sharp one's is still smooth; above, it has added detail)."""
    a = np.asarray(image, np.float64)[border:-border, border:-border]
    return float(np.mean(np.diff(a, axis=0) ** 2) + np.mean(np.diff(a, axis=1) ** 2))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("weights", nargs="*", default=["gran.em_v1", "gran.gan_em_v1"])
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    pairs = papers.em_test_pairs(False)
    names = ["input", *args.weights]
    scores: dict[str, list[float]] = {k: [] for k in names}
    ssims: dict[str, list[float]] = {k: [] for k in names}
    detail: dict[str, list[float]] = {k: [] for k in names}
    for _, blurred, sharp in pairs:
        for w in names:
            out = blurred if w == "input" else deblur(blurred, method=spec(w), axes="YX",
                                                      device="cpu")
            m = evaluate(out, sharp, border=16)
            scores[w].append(float(m["psnr"]))
            ssims[w].append(float(m["ssim"]))
            detail[w].append(gradient_energy(out) / gradient_energy(sharp))
    result = {"command": "python benchmarks/paper_weights.py " + " ".join(sys.argv[1:]),
              "crops": [name for name, _, _ in pairs],
              "mean_psnr": {k: float(np.mean(v)) for k, v in scores.items()},
              "mean_ssim": {k: float(np.mean(v)) for k, v in ssims.items()},
              "mean_gradient_energy_ratio": {k: float(np.mean(v)) for k, v in detail.items()},
              "per_crop": scores}
    for k, v in result["mean_psnr"].items():
        print(f"{k}: {v:.2f} dB, SSIM {result['mean_ssim'][k]:.4f}, gradient energy "
              f"{result['mean_gradient_energy_ratio'][k]:.3f} of the sharp image's over "
              f"{len(pairs)} crops")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
