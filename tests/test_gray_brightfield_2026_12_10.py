"""A grayscale brightfield user (walkthrough of 2026-12-10): method auto runs a gray image as
fluorescence, and the CLI's line named only EM as the other choice."""

import numpy as np
import tifffile

from napari_microdeblur.cli import main


def test_the_auto_line_names_brightfield_for_gray_images(tmp_path, capsys):
    image = (np.random.default_rng(0).random((64, 64)) * 200 + 40).astype(np.uint8)
    tifffile.imwrite(tmp_path / "phase.tif", image)
    assert main(["deblur", str(tmp_path / "phase.tif"), "-o", str(tmp_path / "out.tif"),
                 "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "--modality auto: grayscale, so run as fluorescence" in out
    assert "for gray brightfield --modality brightfield)" in out
