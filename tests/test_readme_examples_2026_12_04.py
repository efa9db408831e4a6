"""README checks of 2026-12-04: what a new user following the README sees."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main


def _corrupt_tiff(path):
    # a TIFF header whose first-page offset points past the end of the file
    path.write_bytes(b"II*\x00garbage")
    return path


def test_corrupt_tiff_error_is_one_line(tmp_path, capsys, caplog):
    """README: "Errors print one line (`microdeblur: error: ...`)"; tifffile's own warning
    about the broken offset used to come first, as a second line (outside pytest, which
    catches log records, Python prints it on stderr)."""
    bad = _corrupt_tiff(tmp_path / "bad.tif")
    code = main(["deblur", str(bad), "-o", str(tmp_path / "out.tif")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert not [r for r in caplog.records if r.name == "tifffile"]
    assert lines == [f"microdeblur: error: cannot read {str(bad)!r}: the TIFF contains no image"]


def test_corrupt_tiff_in_batch_names_file_once(tmp_path, capsys):
    folder = tmp_path / "tiles"
    folder.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    _corrupt_tiff(folder / "bad.tif")
    tifffile.imwrite(folder / "good.tif", np.random.default_rng(0).random((64, 64), "float32"))
    code = main(["deblur", str(folder), "-o", str(out), "--method", "wiener",
                 "--psf", "gaussian:1.6", "--balance", "0.01", "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert (out / "good_deblurred.tif").exists()
    assert "invalid offset" not in err
    assert err.count("bad.tif") == 2  # the batch prefix and the path in the message


def test_tifffile_log_level_restored(tmp_path):
    log = logging.getLogger("tifffile")
    before = log.level
    main(["focus", str(_corrupt_tiff(tmp_path / "bad.tif"))])
    assert log.level == before


def test_psf_from_beads_help_says_how_radius_is_chosen(capsys):
    """README *PSFs*: the crop comes from the median width of up to five bright beads; the
    help said 'the brightest bead's FWHM'."""
    with pytest.raises(SystemExit):
        main(["psf-from-beads", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "median FWHM of the brightest beads, up to five" in text
    assert "brightest bead's FWHM" not in text
