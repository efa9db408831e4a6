"""core.selective audit (2026-12-06): a script's selective deblur of a sparse fluorescence
image, per tile, must leave the tiles of background noise only alone, as the Focus dock does
(their score is that of noise: below most thresholds, and a deblur only amplifies it)."""

from __future__ import annotations

import numpy as np
import pytest
from _sparse_cells import cells, half_blurred, noisy

from napari_microdeblur.core import selective
from napari_microdeblur.core.focus import calibrate_threshold, focus_score, structure_tiles

TILE = 64
RUN = {"psf": "gaussian:1.6", "balance": 0.01, "device": "cpu", "output_dtype": "input"}


@pytest.fixture(scope="module")
def sparse():
    """(image whose right half is blurred, content tiles, blurred cell tiles, threshold: the
    25th percentile of a good image's tiles with structure)."""
    image, content, blurred = half_blurred(TILE)
    good = noisy(cells(1), 2)
    scores = focus_score(good, axes="YX", tile=TILE)
    threshold = calibrate_threshold(scores[structure_tiles(good, axes="YX", tile=TILE)],
                                    percentile=25)
    return noisy(image, 4), content, blurred, threshold


def _selected_mask(result, shape) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for unit in result.selected:
        mask[unit] = True
    return mask


def test_computed_tile_scores_leave_background_tiles_out(sparse):
    image, content, blurred, threshold = sparse
    result = selective.deblur_selected(image, "wiener", axes="YX", tile=TILE,
                                       threshold=threshold, **RUN)
    chosen = _selected_mask(result, content.shape)
    # before: all 37 background tiles were deblurred (their noise scores below the threshold)
    assert not (chosen & ~content).any()
    assert (chosen & blurred).sum() >= 10  # of 11 blurred cell tiles, as before
    np.testing.assert_array_equal(result.structure, content)
    assert result.background == int((~content).sum()) == 37
    np.testing.assert_array_equal(result.mask, chosen)
    # the scores stay those computed (a background tile's is low, but not selected)
    np.testing.assert_allclose(result.scores, focus_score(image, axes="YX", tile=TILE),
                               rtol=1e-6)
    assert (result.scores[~content] < threshold).all()
    for ty, tx in np.argwhere(~content):
        y0, y1, x0, x1 = selective.tile_box(ty, tx, TILE, image.shape)
        assert result.image[y0:y1, x0:x1].tobytes() == image[y0:y1, x0:x1].tobytes()


def test_skip_background_false_deblurs_every_tile_below_the_threshold(sparse):
    image, content, _, threshold = sparse
    scores = focus_score(image, axes="YX", tile=TILE)
    result = selective.deblur_selected(image, "wiener", axes="YX", tile=TILE,
                                       threshold=threshold, skip_background=False, **RUN)
    np.testing.assert_array_equal(_selected_mask(result, content.shape), scores < threshold)
    assert result.structure is None and result.background == 0


def test_scores_given_by_the_caller_are_used_as_they_are(sparse):
    """The dock passes NaN for background tiles; a caller's own scores are not second-guessed."""
    image, _, _, threshold = sparse
    scores = focus_score(image, axes="YX", tile=TILE)
    scores[0, 0] = np.nan  # a background tile, as the dock passes it
    result = selective.deblur_selected(image[:128, :128], "wiener", axes="YX", tile=TILE,
                                       scores=scores[:2, :2], threshold=threshold, **RUN)
    expected = np.array([[False, True], [True, True]]) & (scores[:2, :2] < threshold)
    np.testing.assert_array_equal(_selected_mask(result, (2, 2)), expected)
    assert result.structure is None and result.background == 0


def test_a_stack_skips_background_plane_by_plane(sparse):
    image, content, _, threshold = sparse
    # plane 1: the image turned upside down, its background now in the top half
    stack = np.stack([image, image[::-1]])[:, :, :256]
    result = selective.deblur_selected(stack, "wiener", axes="ZYX", tile=TILE,
                                       threshold=threshold, **RUN)
    half = content[:, :4]
    np.testing.assert_array_equal(result.structure, np.stack([half, half[::-1]]))
    assert result.background == 2 * int((~half).sum())
    assert all(result.structure[unit] for unit in result.selected)


def test_skip_background_must_be_a_bool(sparse):
    image, _, _, threshold = sparse
    with pytest.raises(TypeError, match="skip_background must be True or False"):
        selective.iter_deblur_selected(image, "wiener", axes="YX", tile=TILE,
                                       threshold=threshold, skip_background="no", **RUN)
