"""A time series' 'auto' settings are searched on a frame of median contrast, not the first:
a dim first frame (before illumination) had set Wiener's balance 1000x too high for every
frame, and Richardson-Lucy's count to 1."""

import warnings

import numpy as np
from scipy.ndimage import gaussian_filter

from napari_microdeblur.core.image_settings import search_times
from napari_microdeblur.core.inference import deblur


def _series():
    rng = np.random.default_rng(0)
    sharp = np.zeros((4, 96, 96), np.float32)
    for t in range(4):
        sharp[t][tuple(rng.integers(8, 88, (2, 40)))] = 1.0
    sharp = gaussian_filter(sharp, (0, 0.8, 0.8))
    sharp[0] *= 0.05  # t=0: dim
    blur = gaussian_filter(sharp, (0, 2, 2)) + rng.normal(0, 5e-4, sharp.shape)
    return blur.astype(np.float32)


def _said(series, method):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = deblur(series, method=method, psf="gaussian:2", axes="TYX", device="cpu")
    return out, [str(w.message).split(" (")[0] for w in caught if "auto" in str(w.message)]


def test_a_dim_first_frame_does_not_set_the_series_settings():
    blur = _series()
    for method in ("wiener", "richardson_lucy"):
        out_dim_first, said_dim_first = _said(blur, method)
        out_dim_second, said_dim_second = _said(blur[[1, 0, 2, 3]], method)
        assert said_dim_first == said_dim_second, (method, said_dim_first, said_dim_second)
        np.testing.assert_array_equal(out_dim_first[2], out_dim_second[2])


def test_search_times_spread_over_the_series():
    assert search_times("YX", (8, 8)) == [0]
    assert search_times("TYX", (4, 8, 8)) == [0, 1, 2, 3]
    times = search_times("TZYX", (100, 3, 8, 8))
    assert len(times) == 9 and times[0] == 0 and times[-1] == 99


def test_a_lazy_series_is_judged_on_small_crops_and_searched_on_one_time_point():
    """Contrast is judged on 64 px crops; only the chosen time point's search crop is read
    whole (nine whole crops had been read: 189 MB of a 50-frame TCZYX dask series)."""
    from napari_microdeblur.core.image_settings import median_contrast_first, search_volume
    from napari_microdeblur.core.psf import gaussian_psf

    class Counted:  # a lazy array's reads: the size of each part asked for
        def __init__(self, data):
            self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
            self.reads = []

        def __getitem__(self, key):
            part = self.data[key]
            self.reads.append(part.size)
            return part

    blur = np.repeat(_series(), 3, axis=0)  # 12 frames, frames 0-2 dim
    lazy = Counted(np.pad(blur, ((0, 0), (80, 80), (80, 80))))
    order = median_contrast_first(lazy, "TYX", [("T", 12)])
    assert order[0] not in (0, 1, 2)  # the dim frames are not the median
    lazy.reads.clear()
    search_volume(lazy, "TYX", 256, gaussian_psf(2.0))
    assert sum(size >= 256 * 256 for size in lazy.reads) == 1, lazy.reads
    assert len(lazy.reads) <= 10, lazy.reads  # 9 small crops and the one searched
