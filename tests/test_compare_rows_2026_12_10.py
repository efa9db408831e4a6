"""Compare & QC's rows read 'blurry vs GT' and 'deblurred vs GT' when the Fine-tune dock
filled it with the base model's and the fine-tuned result; the rows now say what they hold,
until the user picks another layer."""

from __future__ import annotations

import numpy as np
from test_widgets import dock


def headers(compare) -> list[str]:
    return [compare.table.verticalHeaderItem(r).text() for r in range(3)]


def test_rows_are_named_for_the_layers_given_until_one_is_picked_by_hand(make_napari_viewer):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    base, tuned, truth, other = (viewer.add_image(rng.random((32, 32), dtype=np.float32),
                                                  name=n) for n in ("b", "t", "g", "o"))
    compare = dock(viewer, "Compare & QC")
    assert headers(compare) == ["blurry vs GT", "deblurred vs GT", "gain"]
    compare.set_layers(blurry=base, deblurred=tuned, truth=truth,
                       rows=("base model", "fine-tuned"))
    assert headers(compare) == ["base model vs GT", "fine-tuned vs GT", "gain"]
    compare.truth_combo.activated.emit(compare.truth_combo.currentIndex())
    assert headers(compare)[0] == "base model vs GT"  # the same two layers, another truth
    compare.blurry_combo.set_value(other)
    compare.blurry_combo.activated.emit(compare.blurry_combo.currentIndex())
    assert headers(compare) == ["blurry vs GT", "deblurred vs GT", "gain"]
    compare.set_layers(blurry=base, deblurred=tuned, truth=truth)  # no names: the roles'
    assert headers(compare)[:2] == ["blurry vs GT", "deblurred vs GT"]


def test_the_names_end_when_a_named_layer_is_removed(make_napari_viewer, qtbot):
    """A recheck walkthrough: after the fine-tune layers were removed the combo took another
    layer by itself, and its PSNR showed under 'base model vs GT'."""
    viewer = make_napari_viewer()
    rng = np.random.default_rng(1)
    base, tuned, truth = (viewer.add_image(rng.random((32, 32), dtype=np.float32), name=n)
                          for n in ("b", "t", "g"))
    compare = dock(viewer, "Compare & QC")
    compare.set_layers(blurry=base, deblurred=tuned, truth=truth,
                       rows=("base model", "fine-tuned"))
    viewer.layers.remove(base)
    viewer.add_image(rng.random((32, 32), dtype=np.float32), name="new")
    qtbot.waitUntil(lambda: compare.blurry_combo.value is not base, timeout=5000)
    qtbot.wait(300)  # the roles timer may pick a layer for the emptied role
    assert compare.blurry_combo.value is not base
    assert headers(compare)[:2] == ["blurry vs GT", "deblurred vs GT"]
