"""Edge-fill detection costs little on planes without a fill (a dark fluorescence field's exact
zeros touching the edge: 110 ms and 44 MiB at 2048^2 were spent on an opening, labels and a
hull that found no border), with the masks the full detection gives; a glob's matches have
their folder's real path worked out once per folder."""

import os
import tracemalloc

import numpy as np
import pytest
from scipy import ndimage

from napari_microdeblur.core import edge_fill, input_files, plateaus


def _dark_field(n: int = 1024) -> np.ndarray:
    """Nuclei on a dark field whose noise sits at exactly 0 in ~39 % of pixels (not a fill)."""
    rng = np.random.default_rng(3)
    field = ndimage.gaussian_filter(rng.normal(size=(n, n)), 1) * 6
    yy, xx = np.mgrid[:n, :n]
    cells = sum(np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 800.0)
                for cy, cx in rng.integers(0, n, (60, 2)))
    x = field - 1 + 1.5 * rng.normal(size=(n, n)) + 150 * cells
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _peak(call) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_dark_field_is_cheap(monkeypatch):
    x = _dark_field()
    assert (x == 0).mean() > 0.3 and (x[0] == 0).any()
    assert edge_fill.edge_fill_mask(x) is None
    assert plateaus.plateau_note(x, "YX", "wiener") == ""
    # the old code: 11 MiB (opening, int32 labels, isin); now 2 (a 1 MiB plane)
    assert _peak(lambda: edge_fill.edge_fill_mask(x)) < 6 * 2**20

    def no_label(*args, **kwargs):
        raise AssertionError("labelled the whole plane")

    monkeypatch.setattr(ndimage, "label", no_label)
    monkeypatch.setattr(ndimage, "binary_opening", no_label)
    assert edge_fill.edge_fill_mask(x) is None


def _full_mask(x, monkeypatch):
    """edge_fill_mask without its pre-test: the full detection on every plane."""
    with monkeypatch.context() as m:
        m.setattr(edge_fill, "_no_border", lambda *args: False)
        return edge_fill.edge_fill_mask(x)


def _cases():
    """Fills (stripes, wedges, a half, a disc's outside, white beside black) and not."""
    rng = np.random.default_rng(0)
    for i in range(120):
        h, w = (int(v) for v in rng.integers(20, 140, 2))
        x = rng.integers(0, int(rng.integers(2, 50)), (h, w)).astype(np.uint8)
        yy, xx = np.mgrid[:h, :w]
        kind = i % 6
        if kind == 1:
            x[:, : int(rng.integers(1, w // 2))] = 0
        elif kind == 2:
            x[yy < (xx - rng.integers(0, w)) * rng.uniform(0.1, 2)] = 0
        elif kind == 3:
            x[(yy - h / 2) ** 2 + (xx - w / 2) ** 2 > rng.uniform(0.1, 1) * h * w / 4] = 0
        elif kind == 4:  # scattered zeros over a quarter: most in groups under 5 px
            x[rng.random((h, w)) < rng.uniform(0.2, 0.8)] = 0
            x[: int(rng.integers(1, h // 2))] = 0
        elif kind == 5:
            x[:, -int(rng.integers(1, w // 3)):] = x.max()
            x[: int(rng.integers(1, 9))] = 0
        yield x


def test_same_masks_as_the_full_detection(monkeypatch):
    fills = 0
    for x in _cases():
        new, old = edge_fill.edge_fill_mask(x), _full_mask(x, monkeypatch)
        assert (new is None) == (old is None)
        if new is not None:
            fills += 1
            assert np.array_equal(new, old)
    assert fills > 20


@pytest.mark.parametrize("dark", [False, True])
def test_fill_on_dark_field_still_found(dark, monkeypatch):
    noise = np.random.default_rng(0).integers(60, 120, (256, 256)).astype(np.uint8)
    x = _dark_field(256) if dark else noise
    x[:, :60] = 0  # a real stripe of fill beside the field
    mask = edge_fill.edge_fill_mask(x)
    assert mask is not None and mask[:, :60].all()
    assert np.array_equal(mask, _full_mask(x, monkeypatch))


def test_once_each_real_path_per_folder(tmp_path, monkeypatch):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        for k in range(100):
            (tmp_path / folder / f"{k:03d}.tif").touch()
    matches = [str(p) for p in sorted(tmp_path.glob("*/*.tif"))]
    calls = []
    real = os.path.realpath
    monkeypatch.setattr(os.path, "realpath", lambda p, *a, **k: calls.append(p) or real(p))
    found = input_files.once_each(matches)
    assert [str(p) for p in found] == matches
    assert len(calls) == 2
