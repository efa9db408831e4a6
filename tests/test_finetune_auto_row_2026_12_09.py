"""After a paired Fine-tune run on a grayscale fluorescence layer, 'auto' runs the blind
fluorescence default, which is the base model itself: the comparison deblurred the region a
third time and showed an '[auto: ...]' layer identical to the base one. It is now run once,
and the status line says the base row is what 'auto' gives."""

from __future__ import annotations

import numpy as np
import pytest


def run_job(job):
    try:
        while True:
            next(job)
    except StopIteration as done:
        return done.value


@pytest.fixture
def fluorescence_base():
    from napari_microdeblur._widgets._methods import SessionModel
    from napari_microdeblur.core.bundled import DEFAULTS_BY_MODALITY, load_bundled

    name = DEFAULTS_BY_MODALITY["fluorescence"][0]
    model, card = load_bundled(name)
    return SessionModel(name, model.eval(), card)


def pair(shape=(64, 64)):
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    sharp = gaussian_filter(rng.random(shape), 1.0).astype(np.float32)
    blurry = gaussian_filter(sharp, 1.6) + rng.normal(0, 0.005, shape).astype(np.float32)
    return blurry.astype(np.float32), sharp


def test_auto_is_not_run_again_where_it_is_the_base(fluorescence_base):
    from napari.layers import Image

    from napari_microdeblur._widgets._finetune_compare import iter_compare_job, plan_region

    blurry, sharp = pair()
    layer = Image(blurry, name="b")
    plan = plan_region(layer, "YX", ("Y", 40, 64), sharp_data=sharp)
    region, images = run_job(iter_compare_job(plan, [fluorescence_base, fluorescence_base],
                                              "cpu", auto="fluorescence"))
    assert len(images) == 2  # base and tuned only: no third, identical image
    assert region.auto_is_base and region.auto_label == f"auto: {fluorescence_base.label}"
    assert set(region.scores) == {"base", "tuned"}


def test_the_status_line_says_the_base_row_is_autos(fluorescence_base):
    from napari_microdeblur._widgets._finetune_compare import HeldOutRegion, shown_line

    class NoViewer:  # source_now looks the layer up by its placement
        layers = []

    region = HeldOutRegion("b", "YX", np.zeros((4, 4)), None, (0, 0), {}, None,
                           "held-out band Y 40-64", auto_label="auto: x", auto_is_base=True)
    line = shown_line(NoViewer(), region)
    assert "The default Deblur ('auto') runs the base model on this layer" in line
