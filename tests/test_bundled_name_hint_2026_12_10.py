"""A recheck walkthrough: `--weights c2f_unet.em` and `info c2f_unet.em` said only 'no such
file' / 'does not exist'; `--weights c2f_unet.em_v2` (a bundled name) said 'no such file'."""

from __future__ import annotations

import numpy as np
import tifffile

from napari_microdeblur.cli import main


def test_weights_given_a_bundled_name_or_a_near_miss_says_so(tmp_path, capsys):
    src = tmp_path / "a.tif"
    tifffile.imwrite(src, np.zeros((32, 32), np.uint8))
    for weights, expected in (
            ("c2f_unet.em_v2", "'c2f_unet.em_v2' is a bundled network: give it as the method, "
                               "--method 'c2f_unet.em_v2'"),
            ("c2f_unet.em", "did you mean the bundled 'c2f_unet.em_v2'? give it as the method")):
        assert main(["deblur", str(src), "-o", str(tmp_path / "o.tif"), "--weights",
                     weights]) == 2
        assert expected in capsys.readouterr().err
    assert not (tmp_path / "o.tif").exists()


def test_info_of_a_near_miss_suggests_the_bundled_name(capsys):
    assert main(["info", "c2f_unet.em"]) == 2
    err = capsys.readouterr().err
    assert "does not exist (did you mean the bundled 'c2f_unet.em_v2'? `microdeblur methods`" \
        in err


def test_a_path_or_a_far_name_gets_no_hint(tmp_path, capsys):
    assert main(["info", str(tmp_path / "c2f_unet.em")]) == 2
    assert "bundled" not in capsys.readouterr().err
    assert main(["info", "nothing_like_it.tif"]) == 2
    assert "bundled" not in capsys.readouterr().err
