"""`microdeblur deblur --focus-below T|auto`: only the soft slices or tiles are deblurred, the
rest written bit-identical (--output-dtype input), the selection recorded and said per file;
bad options refused in one line before any work."""

import numpy as np
import pytest
import tifffile
from scipy.ndimage import gaussian_filter

from napari_microdeblur.cli import main
from napari_microdeblur.core import io
from napari_microdeblur.core.focus import focus_score

WIENER = ["--method", "wiener", "--psf", "gaussian:2", "--balance", "0.05", "--device", "cpu",
          "--output-dtype", "input"]
SOFT = (2, 4)  # the planes blurred in ``stack``


@pytest.fixture
def stack(tmp_path):
    """A uint8 ZYX stack of 6 textured planes, planes 2 and 4 blurred (soft)."""
    rng = np.random.default_rng(0)
    planes = [gaussian_filter(rng.random((96, 96)) * 200, 1.0) for _ in range(6)]
    for z, sigma in zip(SOFT, (3.0, 2.5)):
        planes[z] = gaussian_filter(planes[z], sigma)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.stack(planes).astype(np.uint8), imagej=True,
                     metadata={"axes": "ZYX"})
    return path


def _focus_record(path):
    return io.read_image(path).metadata["microdeblur"]["focus"]


def test_only_planes_below_the_threshold_are_deblurred_the_rest_bit_identical(
        tmp_path, stack, capsys):
    scores = focus_score(tifffile.imread(stack), axes="ZYX")
    threshold = float(np.sort(scores)[2])  # between the two soft planes and the sharp ones
    out = tmp_path / "out.tif"
    assert main(["deblur", str(stack), "-o", str(out), "--focus-below", str(threshold),
                 *WIENER]) == 0
    before, after = tifffile.imread(stack), tifffile.imread(out)
    assert after.dtype == before.dtype and after.shape == before.shape
    for z in range(6):
        assert np.array_equal(after[z], before[z]) is (z not in SOFT), z
    assert f"{out}: 2 of 6 slices below {threshold:.4g} deblurred with wiener" in \
        capsys.readouterr().out
    focus = _focus_record(out)
    assert focus["mode"] == "slices" and focus["selected"] == [[2], [4]]
    assert focus["units"] == 6 and focus["deblurred"] == 2
    assert focus["threshold"] == pytest.approx(threshold)


def test_auto_is_half_the_median_score_and_said(tmp_path, stack, capsys):
    scores = focus_score(tifffile.imread(stack), axes="ZYX")
    out = tmp_path / "out.tif"
    assert main(["deblur", str(stack), "-o", str(out), "--focus-below", "auto", *WIENER]) == 0
    focus = _focus_record(out)
    assert focus["threshold"] == pytest.approx(0.5 * np.median(scores))
    expected = [[z] for z in range(6) if scores[z] < 0.5 * np.median(scores)]
    assert focus["selected"] == expected and expected  # the blurred planes at least
    assert "half the median score" in capsys.readouterr().out


def test_a_blank_plane_is_never_deblurred(tmp_path, stack):
    data = tifffile.imread(stack)
    data[1] = 0  # scores 0: below any threshold, but nothing there to deblur
    tifffile.imwrite(stack, data, imagej=True, metadata={"axes": "ZYX"})
    out = tmp_path / "out.tif"
    assert main(["deblur", str(stack), "-o", str(out), "--focus-below", "1e9", "-q",
                 *WIENER]) == 0
    focus = _focus_record(out)
    assert [1] not in focus["selected"] and focus["no_structure"] == 1
    assert np.array_equal(tifffile.imread(out)[1], data[1])


def test_tiles_below_are_deblurred_the_others_bit_identical(tmp_path, capsys):
    rng = np.random.default_rng(1)
    image = gaussian_filter(rng.random((128, 128)) * 200, 1.0)
    image[:, :64] = gaussian_filter(image, 3.0)[:, :64]  # the left half soft
    src = tmp_path / "plane.tif"
    tifffile.imwrite(src, image.astype(np.uint16))
    scores = focus_score(image.astype(np.uint16), axes="YX", tile=32)
    threshold = float(scores[:, 2:].min()) * 0.9  # every sharp tile above it
    out = tmp_path / "out.tif"
    assert main(["deblur", str(src), "-o", str(out), "--focus-below", str(threshold),
                 "--focus-unit", "tile", "--focus-tile", "32", *WIENER]) == 0
    before, after = tifffile.imread(src), tifffile.imread(out)
    focus = _focus_record(out)
    assert focus["mode"] == "tiles" and focus["focus_tile"] == 32
    assert focus["selected"] and all(tx < 2 for _, tx in focus["selected"])
    changed = np.zeros(before.shape, dtype=bool)
    for y0, y1, x0, x1 in focus["boxes"]:
        changed[y0:y1, x0:x1] = True
    assert np.array_equal(after[~changed], before[~changed])
    assert not np.array_equal(after[changed], before[changed])
    n = len(focus["selected"])
    assert f"{n} of 16 tiles (32 px) below" in capsys.readouterr().out


def test_a_folder_batch_says_each_file_and_records_each(tmp_path, stack, capsys):
    folder, outdir = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    outdir.mkdir()
    for name in ("a.tif", "b.tif"):
        (folder / name).write_bytes(stack.read_bytes())
    assert main(["deblur", str(folder), "-o", str(outdir), "--focus-below", "auto",
                 *WIENER]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "slices below" in line]
    assert len(lines) == 2
    for name in ("a", "b"):
        out = outdir / f"{name}_deblurred.tif"
        assert f"{out}: " in "\n".join(lines)
        selected = [z for (z,) in _focus_record(out)["selected"]]
        data, src = tifffile.imread(out), tifffile.imread(stack)
        assert all(np.array_equal(data[z], src[z]) for z in range(6) if z not in selected)


@pytest.mark.parametrize("options, words", [
    (["--focus-below", "0"], "give a number > 0"),
    (["--focus-below", "-0.01"], "give a number > 0"),
    (["--focus-below", "nan"], "give a number > 0"),
    (["--focus-below", "soft"], "give a number > 0"),
    (["--focus-unit", "tile"], "--focus-unit needs --focus-below"),
    (["--focus-below", "0.01", "--focus-tile", "32"], "give --focus-unit tile"),
])
def test_bad_focus_options_are_one_line_before_any_work(tmp_path, stack, capsys, options,
                                                         words):
    out = tmp_path / "out.tif"
    assert main(["deblur", str(stack), "-o", str(out), *options, *WIENER]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err
    assert not out.exists()


def test_a_single_plane_with_slices_is_refused_naming_tiles(tmp_path, capsys):
    src = tmp_path / "plane.tif"
    tifffile.imwrite(src, (np.random.default_rng(2).random((64, 64)) * 255).astype(np.uint8))
    out = tmp_path / "out.tif"
    assert main(["deblur", str(src), "-o", str(out), "--focus-below", "auto", *WIENER]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--focus-unit tile" in err, err
    assert "single plane" in err and not out.exists()
