"""A camera offset and the focus score, on the DFNN light-sheet mitochondria stack (14 planes,
in focus at Abs0051; its dark level is about 100 ADU: median pixel 101).

For the stack as it is and for a dim copy (half the signal above the dark level, and 100 ADU
more offset: dark level 200), without and with ``camera_offset`` set to the dark level:
Spearman correlation of the plane scores with the distance from focus, and the threshold
calibrated on the in-focus plane (5th percentile of its 128 px tile scores), dim over as-is.
Then how far a dark level given 5 ADU off (95 or 105 for 100) moves that threshold.

    python benchmarks/focus_camera_offset.py --json benchmarks/results/focus_camera_offset.json
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from provenance import write_json  # noqa: E402

from napari_microdeblur.core.focus import calibrate_threshold, focus_score  # noqa: E402

STACK = (Path(__file__).resolve().parents[2] / "shared" / "data" / "focus_stack_lightsheet_dfnn"
         / "mitochondria_cell2_stack")
IN_FOCUS = 51  # Abs0051
DARK = 100.0  # the camera's dark level here (median pixel 101, 25th percentile 98)
TILE = 128
PERCENTILE = 5


def threshold(plane: np.ndarray, offset: float) -> float:
    tiles = focus_score(plane, axes="YX", tile=TILE, camera_offset=offset)
    return float(calibrate_threshold(tiles, percentile=PERCENTILE))


def measure() -> dict:
    import tifffile
    from scipy.stats import spearmanr

    files = sorted(STACK.glob("*.tif"))
    if len(files) < 2:
        raise SystemExit(f"needs the stack under {STACK}")
    numbers = [int(re.search(r"Abs00(\d\d)", f.name).group(1)) for f in files]
    stack = np.stack([tifffile.imread(f).astype(np.float32) for f in files])
    distance = np.abs(np.array(numbers) - IN_FOCUS)
    dim = 0.5 * (stack - DARK) + DARK + 100  # dark level 200
    focus = numbers.index(IN_FOCUS)
    rows = []
    for label, offset, dim_offset in (("camera_offset 0", 0.0, 0.0),
                                      ("camera_offset = dark level", DARK, DARK + 100)):
        scores = focus_score(stack, axes="ZYX", camera_offset=offset)
        dim_scores = focus_score(dim, axes="ZYX", camera_offset=dim_offset)
        as_is, dimmed = threshold(stack[focus], offset), threshold(dim[focus], dim_offset)
        rows.append({"case": label,
                     "spearman_as_is": round(float(spearmanr(scores, distance)[0]), 3),
                     "spearman_dim": round(float(spearmanr(dim_scores, distance)[0]), 3),
                     "threshold_as_is": as_is, "threshold_dim": dimmed,
                     "threshold_ratio_dim_over_as_is": round(dimmed / as_is, 3)})
    right = threshold(stack[focus], DARK)
    off_by = {f"{o:g} for {DARK:g}": round(threshold(stack[focus], o) / right, 3)
              for o in (DARK - 5, DARK + 5)}
    return {"rows": rows, "threshold_ratio_with_a_wrong_dark_level": off_by}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = measure()
    print(result)
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
