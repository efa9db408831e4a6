"""What the review of 2026-12-20's changes found: napari's writer saved a layer inside the
OME-Zarr store it was opened from (the command line refused it; the store's level became a
group and the store stopped reading); a complete RGB OME-TIFF whose Channel leaves out the
optional SamplesPerPixel was refused as partly written (SizeC 3 counted as 3 planes); a
difference map removed in Side by side left an empty column for the next."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

# the OME-XML of an RGB stack of 2 planes whose Channel leaves out SamplesPerPixel
RGB_OME = ('<?xml version="1.0" encoding="UTF-8"?><OME xmlns="http://www.openmicroscopy.org/'
           'Schemas/OME/2016-06"><Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder='
           '"XYCZT" Type="uint8" SizeX="32" SizeY="32" SizeZ="2" SizeC="3" SizeT="1"><Channel '
           'ID="Channel:0:0"/></Pixels></Image></OME>')


def test_a_complete_rgb_ome_tiff_without_samples_per_pixel_reads(tmp_path):
    from napari_microdeblur.core import io

    rgb = (np.arange(2 * 32 * 32 * 3) % 251).astype(np.uint8).reshape(2, 32, 32, 3)
    path = tmp_path / "rgb.ome.tif"
    tifffile.imwrite(path, rgb, photometric="rgb", description=RGB_OME, metadata=None)
    assert io.read_image(path).array.shape == (2, 32, 32, 3)
    # cut after its first plane, it is still refused
    data = path.read_bytes()
    cut = tmp_path / "cut.ome.tif"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="partly written"):
        io.read_image(cut)


@pytest.mark.parametrize("inside", ["0", "x.ome.tif"])
def test_the_writer_refuses_a_path_inside_the_store_a_layer_was_opened_from(
        make_napari_viewer, tmp_path, inside):
    from napari_microdeblur._writer import save_calibrated
    from napari_microdeblur.core import io

    viewer = make_napari_viewer()
    made = viewer.add_image(np.ones((4, 24, 28), np.uint16), name="made")
    store = tmp_path / "in.ome.zarr"
    save_calibrated(made, store)
    layer = viewer.open(str(store), plugin="napari-microdeblur")[0]
    files = sorted(p.relative_to(store) for p in store.rglob("*"))
    with pytest.raises(ValueError, match=r"is inside '.*in\.ome\.zarr', which layer 'in' was "
                                         r"opened from; save it under another name, outside"):
        save_calibrated(layer, store / inside)
    assert sorted(p.relative_to(store) for p in store.rglob("*")) == files
    assert io.read_image(store).array.shape == (4, 24, 28)  # the store still reads


def test_a_panel_removed_in_side_by_side_leaves_no_empty_column():
    from napari.components import ViewerModel

    from napari_microdeblur._widgets._side_by_side import SideBySide, viewer_grid

    viewer = ViewerModel()
    trio = [viewer.add_image(np.full((8, 8), v), name=n)
            for v, n in ((0.2, "blurry"), (0.5, "deblurred"), (1.0, "truth"))]
    side = SideBySide(viewer)
    side.show(trio)
    first = viewer.add_image(np.zeros((8, 8)), name="difference 1")
    side.add_panel(first)
    assert tuple(viewer_grid(viewer).shape) == (1, 4)
    viewer.layers.remove(first)
    second = viewer.add_image(np.zeros((8, 8)), name="difference 2")
    side.add_panel(second)
    assert tuple(viewer_grid(viewer).shape) == (1, 4)  # was (1, 5): an empty cell
    assert viewer.layers.index(second) == 3
    side.leave()
    assert not viewer_grid(viewer).enabled and not second.name_overlay.visible
