"""What a CZI / ND2 / LIF read through bioio (or aicsimageio) keeps for its TIFF output: channel
names and time interval in ``ImageData.metadata``, as a TIFF input's; and a PSF file of several
channels refused saying how to give one PSF per channel.

Stand-in ``bioio`` / ``aicsimageio`` modules (neither is a dependency), as in
test_bioio_audit_2026_12_06: bioio 3 gives ``channel_names`` (a list of str, made up as
'Channel:0:N' where the file names none) and ``time_interval`` (a datetime.timedelta); older
bioio gave a bare number without a unit; aicsimageio has channel names and no time interval.
"""

import types
from datetime import timedelta

import numpy as np
import pytest
import tifffile
from test_bioio_audit_2026_12_06 import install

from napari_microdeblur.cli import main
from napari_microdeblur.core import io
from napari_microdeblur.core.psf import gaussian_psf, read_psf


@pytest.fixture
def czi(tmp_path):
    path = tmp_path / "x.czi"
    path.write_bytes(b"read by the stand-ins only")
    return path


def without_record(metadata: dict) -> dict:
    """An output's metadata less the record of how it was made (core.provenance)."""
    return {k: v for k, v in metadata.items() if k != "microdeblur"}


RL = ["--method", "richardson_lucy", "--psf", "gaussian:1.2", "--iterations", "2", "-q"]


def stand_in(data, channel_names=None, time_interval=None, sizes=(None, 0.1, 0.1)):
    """A BioImage-like class reading every path as ``data`` (TCZYX)."""

    class Image:
        def __init__(self, path):
            self.dask_data = data
            self.dims = types.SimpleNamespace(order="TCZYX")
            self.physical_pixel_sizes = sizes
            self.scenes = ("Image:0",)
            if channel_names is not None:
                self.channel_names = channel_names
            if time_interval is not None:
                self.time_interval = time_interval

    return Image


def _two_channels_three_frames():
    return (np.random.default_rng(0).random((3, 2, 1, 24, 24)) * 900 + 50).astype(np.uint16)


def test_czi_channel_names_and_interval_reach_an_ome_tif_output(monkeypatch, czi, tmp_path):
    """`microdeblur deblur x.czi -o y.ome.tif` wrote no channel names or time increment: the
    bioio reader left ImageData.metadata empty, where a TIFF input's is kept."""
    install(monkeypatch, bioio=stand_in(_two_channels_three_frames(), ["DAPI", "GFP"],
                                        timedelta(milliseconds=1500)))
    read = io.read_image(czi)
    assert read.axes == "TCYX"
    assert read.metadata == {"channel_names": ["DAPI", "GFP"],
                             "time_interval": pytest.approx(1.5)}
    out = tmp_path / "y.ome.tif"
    assert main(["deblur", str(czi), "-o", str(out), *RL]) == 0
    with tifffile.TiffFile(out) as tif:
        pixels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
    assert [c["Name"] for c in pixels["Channel"]] == ["DAPI", "GFP"]
    assert pixels["TimeIncrement"] == pytest.approx(1.5)
    assert without_record(io.read_image(out).metadata) == read.metadata


def test_aicsimageio_fallback_keeps_channel_names(monkeypatch, czi, tmp_path):
    """aicsimageio (bioio absent) names the channels and gives no time interval."""
    names = np.array(["DAPI", "GFP"])  # readers may give numpy strings: written as str
    install(monkeypatch, aicsimageio=stand_in(_two_channels_three_frames()[:1], list(names)))
    read = io.read_image(czi)
    assert read.metadata == {"channel_names": ["DAPI", "GFP"]}
    assert all(type(name) is str for name in read.metadata["channel_names"])
    out = tmp_path / "y.ome.tif"
    assert main(["deblur", str(czi), "-o", str(out), *RL]) == 0
    assert without_record(io.read_image(out).metadata) == {"channel_names": ["DAPI", "GFP"]}


@pytest.mark.parametrize(("names", "interval"), [
    (["Channel:0:0", "Channel:0:1"], None),      # made up by the reader: the file names none
    (["DAPI", "GFP", "Cy5"], None),               # another count than the data's channels
    (None, types.SimpleNamespace(T=1.5)),         # older bioio: a number without its unit
    (None, timedelta(0)),                         # no interval
])
def test_what_a_reader_does_not_give_reliably_is_left_out(monkeypatch, czi, names, interval):
    install(monkeypatch, bioio=stand_in(_two_channels_three_frames(), names, interval))
    assert io.read_image(czi).metadata == {}


def test_a_reader_whose_metadata_fails_still_reads_the_image(monkeypatch, czi):
    """A channel_names / time_interval that raises loses them, not the image."""
    data = _two_channels_three_frames()

    class Broken(stand_in(data)):
        @property
        def channel_names(self):
            raise KeyError("Channels")

        @property
        def time_interval(self):
            raise ValueError("no TimeIncrement")

    install(monkeypatch, bioio=Broken)
    read = io.read_image(czi)
    assert read.metadata == {}
    np.testing.assert_array_equal(np.asarray(read.array), data[:, :, 0])


def test_a_multichannel_psf_file_says_how_to_give_one_psf_per_channel(tmp_path, capsys):
    """The refusal said 'save each channel's PSF to its own file' and not how to give them."""
    psf = gaussian_psf(1.5, size=15)
    path = tmp_path / "psf_cyx.tif"
    tifffile.imwrite(path, np.stack([psf, psf]), metadata={"axes": "CYX"})
    with pytest.raises(ValueError) as caught:
        read_psf(path)
    message = str(caught.value)
    assert "has 2 channels" in message and "\n" not in message
    assert "one per channel of the image, in order" in message
    assert '--psf "A.tif;B.tif"' in message
    image = tmp_path / "img.tif"
    tifffile.imwrite(image, np.random.default_rng(0).random((48, 48)).astype(np.float32))
    out = tmp_path / "o.tif"
    assert main(["deblur", str(image), "-o", str(out), "--psf", str(path), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and '--psf "A.tif;B.tif"' in err
    assert not out.exists()


def test_a_psf_file_of_time_points_is_not_told_to_split_channels(tmp_path):
    psf = gaussian_psf(1.5, size=15)
    path = tmp_path / "psf_tyx.tif"
    tifffile.imwrite(path, np.stack([psf, psf, psf]), photometric="minisblack",
                     metadata={"axes": "TYX"})
    with pytest.raises(ValueError, match=r"has 3 time points .*: save one of them \(or their "
                                         r"mean\) as the PSF$") as caught:
        read_psf(path)
    assert "channel's PSF" not in str(caught.value)
