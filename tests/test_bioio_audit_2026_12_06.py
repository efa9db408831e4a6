"""Other formats through bioio, else aicsimageio (core.io_bioio), audited against bioio 3.6.

Stand-in ``bioio`` / ``aicsimageio`` modules (neither is a dependency) follow what the real
ones give: TCZYX(S) lazy dask data, ``dims.order``, ``physical_pixel_sizes`` (Z, Y, X),
``scenes``, bioio 3's ``dimension_properties`` (a pint unit per axis), and bioio_base's
``UnsupportedFileFormatError`` with its message. The last tests use the real bioio if there.
"""

import builtins
import sys
import types
import warnings

import numpy as np
import pytest

from napari_microdeblur.core import io

BIOIO_MESSAGE = (
    "BioImage does not support the image: '{}'. You may need to install an extra format "
    "dependency. See our list of known plugins in the bioio README here: "
    "https://github.com/bioio-devs/bioio for a list of known plugins. You can also call the "
    "'bioio.plugins.dump_plugins()' method to report information about currently installed "
    "plugins or the 'bioio.plugin_feasibility_report(image)' method to check if a specific "
    "image can be handled by the available plugins."
)


class UnsupportedFileFormatError(Exception):
    """The name bioio_base.exceptions and aicsimageio.exceptions both use."""


def stand_in(data, order="TCZYX", sizes=(None, None, None), scenes=("Image:0",), units=None):
    """A BioImage-like class that reads every path as ``data``."""

    class Image:
        def __init__(self, path):
            self.dask_data = data
            self.dims = types.SimpleNamespace(order=order)
            self.physical_pixel_sizes = sizes
            self.scenes = scenes
            if units is not None:
                self.dimension_properties = types.SimpleNamespace(
                    **{a: types.SimpleNamespace(type="space", unit=u) for a, u in units.items()})

    return Image


def no_reader(path):
    raise UnsupportedFileFormatError(BIOIO_MESSAGE.format(path))


def install(monkeypatch, bioio=None, aicsimageio=None):
    """Put stand-ins in sys.modules; None: the library is not installed."""
    monkeypatch.setitem(sys.modules, "bioio",
                        types.SimpleNamespace(BioImage=bioio) if bioio else None)
    monkeypatch.setitem(sys.modules, "aicsimageio",
                        types.SimpleNamespace(AICSImage=aicsimageio) if aicsimageio else None)


@pytest.fixture
def czi(tmp_path):
    path = tmp_path / "slide.czi"
    path.write_bytes(b"read by the stand-ins only")
    return path


def test_no_plugin_for_the_format_names_the_plugin_in_one_line(monkeypatch, czi):
    """bioio's message names no plugin and goes on about dump_plugins(): say which to add."""
    install(monkeypatch, bioio=no_reader)
    with pytest.raises(ValueError) as caught:
        io.read_image(czi)
    message = str(caught.value)
    assert "pip install bioio-czi" in message
    assert "\n" not in message and "dump_plugins" not in message
    odd = czi.with_suffix(".xyz")
    odd.write_bytes(b"?")
    with pytest.raises(ValueError, match=r"bioio plugin for \.xyz .*bioio-devs/bioio#plugins"):
        io.read_image(odd)


def test_bioio_without_a_plugin_falls_back_to_aicsimageio(monkeypatch, czi, fluo_u16):
    """bioio installed but without the CZI plugin, aicsimageio (with its CZI reader) there."""
    dask_array = pytest.importorskip("dask.array")
    computed = []
    lazy = dask_array.from_array(fluo_u16[None, None, None], chunks=(1, 1, 1, 32, 32))
    lazy = lazy.map_blocks(lambda block: computed.append(block.shape) or block,
                           meta=np.empty((0,) * 5, fluo_u16.dtype))
    install(monkeypatch, bioio=no_reader,
            aicsimageio=stand_in(lazy, sizes=(None, 0.1, 0.1)))
    data = io.read_image(czi)
    assert data.axes == "YX" and data.pixel_size == {"Y": 0.1, "X": 0.1}
    assert isinstance(data.array, dask_array.Array) and computed == []  # still lazy
    np.testing.assert_array_equal(np.asarray(data.array), fluo_u16)


def _import_breaking(monkeypatch, error):
    real_import = builtins.__import__

    def importer(name, *args, **kwargs):
        if name == "bioio":
            raise error
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", importer)


def test_bioio_that_fails_to_import_falls_back_or_says_so(monkeypatch, czi, fluo_u16):
    """A bioio built for another numpy raises ValueError/AttributeError on import, not
    ImportError: it came out as a raw traceback, aicsimageio untried."""
    install(monkeypatch, aicsimageio=stand_in(fluo_u16[None, None, None]))
    _import_breaking(monkeypatch, ValueError("numpy.dtype size changed, may indicate binary "
                                             "incompatibility.\nExpected 96 from C header"))
    np.testing.assert_array_equal(np.asarray(io.read_image(czi).array), fluo_u16)
    monkeypatch.setitem(sys.modules, "aicsimageio", None)
    with pytest.raises(ValueError, match=r"^cannot read .*bioio is installed but does not "
                       r"import \(numpy.dtype size changed.*\); reinstall") as caught:
        io.read_image(czi)
    assert "\n" not in str(caught.value)


def test_aicsimageio_alone_still_reads(monkeypatch, czi, he_rgb):
    install(monkeypatch, aicsimageio=stand_in(he_rgb[None, None, None], order="TCZYXS"))
    data = io.read_image(czi)
    assert data.axes == "YXS"
    np.testing.assert_array_equal(np.asarray(data.array), he_rgb)


def test_a_file_of_several_scenes_warns_and_reads_the_first(monkeypatch, czi, focus_stack):
    install(monkeypatch, bioio=stand_in(focus_stack[None, None, :3],
                                        scenes=("Image:0", "Image:1", "Image:2")))
    with pytest.warns(UserWarning, match=r"holds 3 scenes; only the first \(3 x .*\) is read"):
        data = io.read_image(czi)
    assert data.axes == "ZYX"
    np.testing.assert_array_equal(np.asarray(data.array), focus_stack[:3])
    install(monkeypatch, bioio=stand_in(focus_stack[None, None, :3]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one scene: no warning
        io.read_image(czi)


def test_pixel_sizes_in_a_named_unit_are_converted_to_um(monkeypatch, czi, focus_stack):
    """bioio 3 readers attach a pint unit per axis; nm sizes were read as um (1000x)."""
    install(monkeypatch, bioio=stand_in(
        focus_stack[None, None, :3], sizes=(300.0, 65.0, 65.0),
        units={"Z": "nanometer", "Y": "nanometer", "X": "nanometer"}))
    assert io.read_image(czi).pixel_size == pytest.approx({"Z": 0.3, "Y": 0.065, "X": 0.065})
    install(monkeypatch, bioio=stand_in(
        focus_stack[None, None, :3], sizes=(float("nan"), 0.2, 0.2),
        units={"Z": None, "Y": "micrometer", "X": "pixel"}))
    # NaN and a unit that is not a length: left out, not a wrong size
    assert io.read_image(czi).pixel_size == {"Y": 0.2}


def test_real_bioio(tmp_path):
    """With bioio and its imageio / OME-TIFF plugins installed (not a dependency)."""
    pytest.importorskip("bioio")
    pytest.importorskip("bioio_imageio")
    pytest.importorskip("bioio_ome_tiff")
    import dask.array as da
    import imageio.v3 as iio
    import tifffile

    rng = np.random.default_rng(0)  # 16 colours: a GIF's palette keeps them exactly
    rgb = rng.integers(0, 256, (16, 3), dtype=np.uint8)[rng.integers(0, 16, (2, 40, 50))]
    iio.imwrite(tmp_path / "movie.gif", rgb)
    data = io._read_with_bioio(tmp_path / "movie.gif")
    assert data.axes == "TYXS" and isinstance(data.array, da.Array)
    np.testing.assert_array_equal(np.asarray(data.array), rgb)
    path = tmp_path / "two.ome.tif"  # read_image reads TIFF itself: bioio's scenes here
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(np.zeros((3, 20, 30), np.uint16),
                  metadata={"axes": "ZYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2})
        tif.write(np.ones((10, 15), np.uint16))
    with pytest.warns(UserWarning, match=r"holds 2 scenes; only the first \(3 x 20 x 30\)"):
        data = io._read_with_bioio(path)
    assert data.axes == "ZYX" and data.pixel_size == pytest.approx({"Y": 0.2, "X": 0.2})
    (tmp_path / "x.nd2").write_bytes(b"\0" * 64)
    with pytest.raises(ValueError, match="no installed bioio reader .*pip install bioio-nd2$"):
        io.read_image(tmp_path / "x.nd2")
