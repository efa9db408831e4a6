"""-q counts a warning said for many files in one closing line: that line keeps the warning's
words up to its details, never a bracket left open."""

from napari_microdeblur.cli_batch import warning_head


def test_the_head_stops_at_the_first_colon_outside_brackets():
    message = ("no PSF could be estimated from this image (image is constant: flat): the "
               "default Gaussian ran")
    assert warning_head(message) == ("no PSF could be estimated from this image (image is "
                                     "constant: flat)")


def test_a_plain_head_and_a_message_without_details():
    assert warning_head("colour R: 30 iterations") == "colour R"
    assert warning_head("no colon here (a: b") == "no colon here (a: b"


def test_quiet_batch_of_constant_images_says_the_warning_whole(tmp_path, capsys):
    import numpy as np
    import tifffile

    from napari_microdeblur.cli import main

    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    for i in range(3):
        tifffile.imwrite(tmp_path / "in" / f"c{i}.tif", np.full((64, 64), 7 + i, np.uint8))
    assert main(["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--modality",
                 "em", "-q"]) == 0
    counted = [line for line in capsys.readouterr().err.splitlines()
               if "also for 2 more files" in line and "no PSF could be estimated" in line]
    assert len(counted) == 1
    line = counted[0]
    assert "(image is constant: it holds no blur to estimate a PSF from)" in line
    assert line.count("(") == line.count(")")
