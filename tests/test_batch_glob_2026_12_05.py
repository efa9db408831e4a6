"""Walkthrough 2026-12-05 ("tiles"): `microdeblur deblur 'sub/**/*.tif' -o out` said the
pattern matched no file: core.files.find_inputs called glob.glob without recursive=True, so
'**' matched one folder level only."""

import numpy as np
import tifffile

from napari_microdeblur.cli import main

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu"]


def test_a_double_star_pattern_reads_every_level(tmp_path):
    src, out = tmp_path / "sub", tmp_path / "out"
    out.mkdir()
    for i, folder in enumerate(("", "stackA", "stackA/sec002")):
        (src / folder).mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(i)
        tifffile.imwrite(src / folder / f"t{i}.tif", rng.integers(0, 255, (48, 48), np.uint8))
    assert main(["deblur", str(src / "**" / "*.tif"), "-o", str(out), *WIENER, "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"t{i}_deblurred.tif" for i in range(3)]
