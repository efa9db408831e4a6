"""`deblur --focus-below auto` on an image with a C axis: one automatic threshold per channel
(the Focus QC dock's rule: half the median of each channel's own scores), said and recorded;
a typed number is one threshold for all channels, said so. A batch with --focus-below loads
its network once, as the plain batch does."""

import numpy as np
import pytest
import tifffile
from scipy.ndimage import gaussian_filter

from napari_microdeblur.cli import main
from napari_microdeblur.cli_selective import unit_scores
from napari_microdeblur.core import checkpoint, io
from napari_microdeblur.core.focus_defaults import default_threshold
from napari_microdeblur.core.inference import RECENT_MODELS
from napari_microdeblur.core.selective import deblur_selected

WIENER = ["--method", "wiener", "--psf", "gaussian:2", "--balance", "0.05", "--device", "cpu",
          "--output-dtype", "input"]
# per channel, each plane's blur: channel 0 (a dim, soft-looking stain) scores far below
# channel 1 throughout; plane 1 of channel 0 and plane 2 of channel 1 are the soft ones
SIGMAS = {0: (2.0, 4.0, 2.0, 2.0), 1: (0.7, 0.7, 2.5, 0.7)}
SOFT = [[0, 1], [1, 2]]


def _channels_image(seed=3):
    rng = np.random.default_rng(seed)
    return np.stack([np.stack([gaussian_filter(rng.random((64, 64)) * 800, s) + 100
                               for s in SIGMAS[c]]) for c in (0, 1)]).astype(np.uint16)


@pytest.fixture
def channels(tmp_path):
    """A uint16 CZYX image (2 channels of 4 planes) whose channels score on their own levels."""
    path = tmp_path / "channels.ome.tif"
    tifffile.imwrite(path, _channels_image(), ome=True, metadata={"axes": "CZYX"})
    return path


def _focus(path):
    return io.read_image(path).metadata["microdeblur"]["focus"]


def test_auto_takes_one_threshold_per_channel_and_says_them(tmp_path, channels, capsys):
    image = tifffile.imread(channels)
    scores, kept = unit_scores(image, "CZYX", None)
    pooled = default_threshold(scores[kept])
    # the pooled threshold misses channel 1's soft plane: it scores above channel 0's level
    assert scores[1, 2] > pooled
    expected = [default_threshold(scores[c][kept[c]]) for c in (0, 1)]
    out = tmp_path / "out.ome.tif"
    assert main(["deblur", str(channels), "-o", str(out), "--focus-below", "auto",
                 *WIENER]) == 0
    focus = _focus(out)
    assert focus["selected"] == SOFT
    assert focus["threshold"] == pytest.approx(expected, rel=1e-5)
    assert "one per channel (channels 1 to 2)" in focus["threshold_from"]["option"]
    line = capsys.readouterr().out
    assert "2 of 8 slices below their channel's threshold (auto per channel" in line
    # numbered from 1, as info numbers channels (2026-12-10)
    assert (f"channel 1: 1 of 4 below {expected[0]:.4g}, channel 2: 1 of 4 below "
            f"{expected[1]:.4g}") in line
    after = tifffile.imread(out)
    for c in (0, 1):
        for z in range(4):
            assert np.array_equal(after[c, z], image[c, z]) is ([c, z] not in SOFT), (c, z)


def test_auto_per_channel_with_tiles(tmp_path, channels):
    scores, kept = unit_scores(tifffile.imread(channels), "CZYX", 16)
    expected = [default_threshold(scores[c][kept[c]]) for c in (0, 1)]
    out = tmp_path / "out.ome.tif"
    assert main(["deblur", str(channels), "-o", str(out), "--focus-below", "auto",
                 "--focus-unit", "tile", "--focus-tile", "16", "-q", *WIENER]) == 0
    focus = _focus(out)
    assert focus["threshold"] == pytest.approx(list(expected), rel=1e-5)
    soft = [[int(i) for i in u] for u in np.argwhere(
        kept & (scores < np.reshape(expected, (2, 1, 1, 1))))]
    assert focus["selected"] == soft and any(u[0] == 1 for u in soft)


def test_a_typed_threshold_is_one_for_all_channels_and_says_so(tmp_path, channels, capsys):
    out = tmp_path / "out.ome.tif"
    assert main(["deblur", str(channels), "-o", str(out), "--focus-below", "1e-3",
                 *WIENER]) == 0
    focus = _focus(out)
    assert focus["threshold"] == pytest.approx(1e-3)
    assert focus["threshold_from"]["option"] == "--focus-below, one for all 2 channels"
    # every plane of channel 0 scores below 1e-3: one number judges the channels alike
    assert [u for u in focus["selected"] if u[0] == 0] == [[0, z] for z in range(4)]
    assert "below 0.001 (one threshold for all 2 channels)" in capsys.readouterr().out


def test_the_core_takes_one_threshold_per_channel():
    from napari_microdeblur.core.focus_defaults import channel_thresholds

    image = _channels_image().astype(np.float32)
    scores, kept = unit_scores(image, "CZYX", None)
    limits = channel_thresholds(scores, kept, 0)
    assert limits == pytest.approx([default_threshold(scores[c][kept[c]]) for c in (0, 1)])
    result = deblur_selected(image, "wiener", threshold=limits, axes="CZYX", psf="gaussian:2",
                             balance=0.05, device="cpu")
    assert [list(u) for u in result.selected] == SOFT
    assert result.threshold == pytest.approx(limits) and result.mask.sum() == 2
    with pytest.raises(ValueError, match="3 values; the C axis has 2 channels"):
        deblur_selected(image, "wiener", threshold=(1, 2, 3), axes="CZYX", psf="gaussian:2")
    with pytest.raises(ValueError, match="have no C axis: give one number"):
        deblur_selected(image[0], "wiener", threshold=(1, 2), axes="ZYX", psf="gaussian:2")


def test_a_batch_with_focus_below_loads_its_network_once(tmp_path, monkeypatch):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        planes = [gaussian_filter(rng.random((32, 32)) * 800, 1.0 + z) + 100 for z in range(2)]
        tifffile.imwrite(folder / f"f{i}.tif", np.stack(planes).astype(np.uint16), imagej=True,
                         metadata={"axes": "ZYX"})
    loads = []
    real = checkpoint.load_model

    def counted(*args, **kwargs):
        loads.append(args[0])
        return real(*args, **kwargs)

    RECENT_MODELS.clear()
    monkeypatch.setattr(checkpoint, "load_model", counted)
    assert main(["deblur", str(folder), "-o", str(out), "--focus-below", "1e9", "--device",
                 "cpu", "-q"]) == 0
    assert len(list(out.glob("*.tif"))) == 3
    assert len(loads) == 1, loads
