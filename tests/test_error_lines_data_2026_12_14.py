"""Error lines of the 2026-12-14 audit (data, weights, focus): each says what to change, in the
words of the route the user is on, and names the values that work."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from napari_microdeblur.cli import main
from napari_microdeblur.cli_words import in_cli_words
from napari_microdeblur.core import io, pairs, registry
from napari_microdeblur.core.data import Pair, PairedData
from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.state_dict_files import read_state_dict_file

TRAIN_OPTIONS = {"patch": "--patch", "val_fraction": "--val-fraction"}


def _err_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err, "nothing printed"
    return err.splitlines()[-1]


def test_band_refusal_gives_the_patch_that_fits():
    # it said "use larger images, a smaller patch or another val_fraction" of 48-px images
    # where the default patch of 64 was the cause, and named a pair 'a.tif~b.tif'
    with pytest.raises(ValueError) as caught:
        pairs.check_band_fits("a.tif~b.tif", (48, 48), val_fraction=0.2, min_train=64)
    words = str(caught.value)
    assert "'a.tif' with 'b.tif' (48 x 48) is too small to hold out validation" in words
    # the advice leaves room for alignment's crop (patch=22 passed here, then failed after it)
    assert words.endswith("give val_fraction=0.28 and patch=8 or smaller, or use larger images")
    assert "give --val-fraction 0.28 and --patch 8 or smaller" in in_cli_words(words,
                                                                            TRAIN_OPTIONS)
    # the values named pass the same check
    assert pairs.check_band_fits("a", (48, 48), val_fraction=0.28, min_train=8)


def test_band_refusal_after_alignment_names_fraction_and_patch():
    # a border of 5 px (alignment's crop) leaves a 5-px band at 0.2: a smaller patch alone
    # could not help, yet it was what the line suggested
    with pytest.raises(ValueError) as caught:
        pairs.check_band_fits("s.tif:z2", (38, 38), val_fraction=0.2, min_train=22, border=5)
    words = str(caught.value)
    assert "give val_fraction=0.28 and patch=8 or smaller" in words, words
    assert "give --val-fraction 0.28 and --patch 8 or smaller" in in_cli_words(
        words, TRAIN_OPTIONS)
    assert pairs.check_band_fits("s.tif:z2", (38, 38), val_fraction=0.28, min_train=8,
                                 border=5)
    with pytest.raises(ValueError, match="; use larger images$"):  # nothing fits 20 px
        pairs.check_band_fits("t", (20, 20), val_fraction=0.2, min_train=64)


def test_patch_refusal_counts_planes_of_images():
    # it said "patch=64 is larger than 4 of the training images" of the 4 planes of 1 file
    plane = np.random.default_rng(0).random((1, 48, 48)).astype(np.float32)
    source = PairedData([Pair(plane, plane, f"s.tif:{z}", (1.0, 0.0), {}) for z in range(4)])
    with pytest.raises(ValueError) as caught:
        source.check_patch(64)
    words = str(caught.value)
    assert words == ("patch=64 is larger than 4 training planes (smallest 48 x 48) of 1 image: "
                     "'s.tif'; give patch=48 or smaller, or larger images"), words
    source.check_patch(48)


def test_deblur_of_nan_pixels_counts_them_and_says_what_to_do(tmp_path, capsys):
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    image[:3, 0] = np.nan
    with pytest.raises(ValueError, match=r"^image holds 3 NaN or Inf pixels \(of 4096\); .*"
                                         r"np\.nan_to_num in Python\) and deblur it again$"):
        deblur(image, method="wiener", psf="gaussian:1.0", balance=0.01, axes="YX",
               device="cpu")
    source = tmp_path / "nan.tif"
    tifffile.imwrite(source, image)
    code = main(["deblur", str(source), "-o", str(tmp_path / "out.tif"), "--method", "wiener",
                 "--psf", "gaussian:1", "--balance", "0.01", "--device", "cpu", "-q"])
    line = _err_line(capsys)
    assert code != 0 and "3 NaN or Inf pixels (of 4096)" in line, line
    assert "replace them in the image (in its file, saved again" in line, line
    assert not (tmp_path / "out.tif").exists()


@pytest.mark.parametrize(("text", "kind"), [(b"<!DOCTYPE html><html>login</html>", "a web page"),
                                            (b"404: Not Found\n", "text")])
def test_text_named_tif_is_said_not_an_image(tmp_path, text, kind):
    # it said "not a TIFF file: header=b'<!DO'" (tifffile's repr)
    path = tmp_path / "img.tif"
    path.write_bytes(text)
    with pytest.raises(ValueError) as caught:
        io.read_image(path)
    words = str(caught.value)
    assert f"it is not an image but {kind}" in words and "download or save the image again" \
        in words, words
    assert "header=" not in words


def test_binary_non_tiff_keeps_tifffile_words(tmp_path):
    path = tmp_path / "img.tif"
    path.write_bytes(bytes(range(200, 216)) * 4)
    with pytest.raises(ValueError, match="as TIFF: "):
        io.read_image(path)


@pytest.mark.parametrize(("saved", "holds"), [(torch.zeros(3), "holds a Tensor"),
                                             ({"a": 1}, "holds no network's weights (a dict of "
                                                        "the keys a)")])
def test_pth_without_weights_says_how_to_save_them(tmp_path, saved, holds):
    # it said "expected a state dict (a dict of tensors), got Tensor"
    path = tmp_path / "w.pth"
    torch.save(saved, path)
    with pytest.raises(ValueError) as caught:
        read_state_dict_file(path, "w.pth")
    words = str(caught.value)
    assert words.startswith(f"w.pth: {holds}"), words
    assert "torch.save(model.state_dict(), path)" in words


def test_unknown_architecture_lists_names_not_a_python_list():
    with pytest.raises(ValueError) as caught:
        registry.get_arch("foo")
    words = str(caught.value)
    assert "[" not in words and f"architectures: {', '.join(registry.list_archs())}" in words


def test_focus_camera_offset_above_every_pixel_warns(tmp_path, capsys):
    # a uint8 image (at most 199) scored 'blank (no structure)' with no word of the offset
    path = tmp_path / "u8.tif"
    tifffile.imwrite(path, (np.random.default_rng(0).random((64, 64)) * 200).astype(np.uint8))
    assert main(["focus", str(path), "--camera-offset", "1000"]) == 0
    err = capsys.readouterr().err
    assert "--camera-offset 1000 is at or above every pixel of" in err, err
    assert "(its brightest: 199)" in err and "below 199" in err, err
    assert main(["focus", str(path), "--camera-offset", "10"]) == 0
    assert "camera-offset" not in capsys.readouterr().err


def test_deblur_line_shows_the_shape_in_the_axes_shown(tmp_path, capsys):
    # "on CZYX (3, 2, 32, 32)" of a (2, 3, 32, 32) CZYX image: the written file's ImageJ order
    source = tmp_path / "c2z3.tif"
    tifffile.imwrite(source, np.random.default_rng(0).random((2, 3, 32, 32)).astype(np.float32),
                     photometric="minisblack")
    for out in ("o.tif", "o.zarr"):
        code = main(["deblur", str(source), "-o", str(tmp_path / out), "--axes", "CZYX",
                     "--method", "wiener", "--psf", "gaussian:1", "--balance", "0.01",
                     "--device", "cpu"])
        said = capsys.readouterr()
        assert code == 0, said.err
        assert f"{Path(tmp_path / out)}: wiener on CZYX (2, 3, 32, 32)" in said.out + said.err
