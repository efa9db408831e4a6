"""Formats other than TIFF, Zarr and PNG/JPEG (CZI, ND2, LIF, GIF, ...) through bioio.

aicsimageio is archived and pins old libraries, so bioio, its maintained successor, is tried
first and aicsimageio only after it (not installed, broken, or without a reader for the file);
neither is a dependency. Both give TCZYX (TCZYXS for RGB samples) lazy dask data and pixel
sizes in micrometres; a reader that names another unit (a pint unit in bioio's
``dimension_properties``) is converted. A file of several scenes is read as its first, with a
warning, as a TIFF of several images is. Channel names and the time interval go to
``ImageData.metadata`` under the keys ``tiff_metadata.tiff_extras`` uses, so a TIFF output keeps
them as it does a TIFF input's.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

from .io import ImageData, drop_alpha
from .notes import DeblurWarning
from .pixel_units import um_per_unit
from .shown import first_line, shown_path

# the bioio plugin for a suffix, from bioio's README list of known plugins (each on PyPI, its
# suffixes as its get_supported_extensions gives them): bioio's own error names none ("you may
# need to install an extra format dependency", then a paragraph)
BIOIO_PLUGINS = {
    ".czi": "bioio-czi", ".nd2": "bioio-nd2", ".lif": "bioio-lif", ".dv": "bioio-dv",
    ".r3d": "bioio-dv", ".sldy": "bioio-sldy", ".imzml": "bioio-imzml",
    ".qptiff": "bioio-qptiff", ".gif": "bioio-imageio", ".apng": "bioio-imageio",
    ".jp2": "bioio-imageio", ".mp4": "bioio-imageio", ".avi": "bioio-imageio",
}
PLUGIN_LIST = "https://github.com/bioio-devs/bioio#plugins"


def _reader_classes() -> tuple[list[tuple[str, type]], str | None]:
    """The image classes to try, bioio's first, and why an installed bioio cannot be used."""
    classes, broken = [], None
    try:
        from bioio import BioImage

        classes.append(("bioio", BioImage))
    except ImportError as error:
        if error.name not in (None, "bioio"):  # bioio is there, a dependency is missing/old
            broken = first_line(error)
    except Exception as error:  # a broken install (a numpy it was not built for) raises others
        broken = first_line(error)
    try:
        from aicsimageio import AICSImage

        classes.append(("aicsimageio", AICSImage))
    except Exception:  # not installed, or as broken: bioio's message is the one to give
        pass
    return classes, broken


#: what ``io.read_image`` reads without bioio (Zarr folders need zarr, the [distributed] extra)
BUILT_IN = "TIFF/OME-TIFF, PNG, JPEG, BMP, NumPy .npy and Zarr folders"


# formats common in EM and connectomics that no bioio plugin on PyPI is named for (no
# bioio-mrc, -hdf5, -h5 or -n5): a conversion, not an install, is what reads them
MRC = ("MRC files", "with mrcfile: tifffile.imwrite('{stem}.tif', mrcfile.read('{name}'))")
HDF5 = ("HDF5 files", "with h5py: tifffile.imwrite('{stem}.tif', "
                      "h5py.File('{name}')['<dataset>'][()])")
NOT_READ = {
    ".mrc": MRC, ".mrcs": MRC, ".h5": HDF5, ".hdf5": HDF5,
    ".n5": ("N5 folders", "into a Zarr folder with zarr 2: zarr.copy_store(zarr.N5Store('{name}'), "
                          "zarr.DirectoryStore('{stem}.zarr'))"),
}
READ = (f" (built in: {BUILT_IN}; with 'napari-microdeblur[formats]': CZI, ND2, LIF and "
        "others, each with its bioio plugin)")
TRIED = " (nor by the bioio readers installed)"  # bioio is there: its readers were tried


def n5_of(path: Path) -> Path | None:
    """The N5 container ``path`` is, or is a dataset inside (data.n5/raw/s0), if any."""
    return next((p for p in (path, *path.parents) if p.suffix.lower() == ".n5"), None)


def not_read(path: Path, where: str = READ) -> str | None:
    """Why a format no bioio plugin is named for is not read, and the conversion that reads it
    (MRC, HDF5, N5); None for another suffix. ``where``: what is read (``READ``, ``TRIED``)."""
    n5 = n5_of(path)
    path = n5 or path
    known = NOT_READ.get(path.suffix.lower())
    if known is None:
        return None
    kind, how = known
    # the file's own names in the example, so that it runs as shown
    how = how.format(stem=path.name[: -len(path.suffix)], name=path.name)
    return f"{kind} are not read{where}: convert the image to TIFF or OME-Zarr, e.g. {how}"


def not_built_in(path: Path, where: str = READ) -> str:
    """Why ``path`` is not read without bioio, and what to install: [formats] is bioio with
    its OME-TIFF and OME-Zarr readers only; CZI, ND2, LIF ... each need their bioio plugin.
    A suffix no plugin is known for gets a conversion, a plugin only 'if there is one'."""
    plugin = BIOIO_PLUGINS.get(path.suffix.lower())
    if plugin:
        return (f"{path.suffix} is not built in ({BUILT_IN} are); other formats are read "
                f"through bioio: pip install 'napari-microdeblur[formats]' {plugin}")
    known = not_read(path, where)
    if known:
        return known
    if (other := _other_tools_file(path)) is not None:
        return other
    what = f"{path.suffix} files" if path.suffix else "files of this format"
    return (f"{what} are not read{where}: convert the image to TIFF "
            f"or OME-Zarr, or install the bioio plugin for {path.suffix or 'it'} if there is "
            f"one (list: {PLUGIN_LIST})")


def _other_tools_file(path: Path) -> str | None:
    """What a file of another tool is and how to use it (``foreign_files``): CARE training
    data (.npz of X, Y) had been sent to 'the bioio plugin for .npz', a Cellpose model (no
    ending) to a bioio plugin 'for it'."""
    from .foreign_files import not_image_said, npz_said

    if path.suffix.lower() == ".npz":
        said = npz_said(path)
        return f"{path.name} is {said}" if said else None
    return None if path.suffix.lower() in BIOIO_PLUGINS else not_image_said(path)


def _unsupported(error: Exception) -> bool:
    """bioio's (bioio_base.exceptions) and aicsimageio's 'no reader for this file'."""
    return type(error).__name__ == "UnsupportedFileFormatError"


def _open(path: Path):
    """The first of bioio and aicsimageio that opens ``path``, and its lazy TCZYX(S) data."""
    classes, broken = _reader_classes()
    if not classes:
        if broken:
            raise ValueError(f"cannot read {shown_path(path)}: bioio is installed but does not "
                             f"import ({broken}); reinstall it: pip install --upgrade bioio")
        raise ValueError(f"cannot read {shown_path(path)}: {not_built_in(path)}")
    failures = []
    for name, image_class in classes:
        try:
            img = image_class(path)
            return img, img.dask_data
        except Exception as error:  # the next library may read what this one cannot
            failures.append((name, error))
    name, error = failures[0]
    if name == "bioio" and _unsupported(error):
        plugin = BIOIO_PLUGINS.get(path.suffix.lower())
        fix = (f"no installed bioio reader reads this format; pip install {plugin}" if plugin
               else not_built_in(path, TRIED))
        raise ValueError(f"cannot read {shown_path(path)}: {fix}") from error
    raise ValueError(f"cannot read {shown_path(path)}: {first_line(error)}") from error


def _pixel_size(img) -> dict[str, float]:
    """Z, Y, X sizes in um; an unknown, zero or non-finite size is left out."""
    try:
        sizes = tuple(img.physical_pixel_sizes)
    except Exception:  # a reader whose metadata does not parse: the data can still be read
        return {}
    try:
        properties = img.dimension_properties  # bioio 3: a pint unit per axis, or None
    except Exception:  # aicsimageio, older bioio
        properties = None
    pixel_size = {}
    for axis, value in zip("ZYX", sizes):
        if value is None or not math.isfinite(float(value)) or float(value) <= 0:
            continue
        unit = getattr(getattr(properties, axis, None), "unit", None)
        factor = 1.0 if unit is None else um_per_unit(unit)
        if factor:  # a unit that is not a length we know: no size rather than a wrong one
            pixel_size[axis] = float(value) * factor
    return pixel_size


# the names bioio and aicsimageio make up for channels the file does not name ("Channel:0:1")
MADE_UP_CHANNEL = re.compile(r"^Channel:\d+:\d+$")


def _extras(img, channels: int) -> dict:
    """Channel names and time interval (s) as ``tiff_metadata.tiff_extras`` gives them; what
    the reader does not give, or gives made up or in an unknown unit, is left out."""
    extras: dict = {}
    try:
        names = [str(name) for name in (img.channel_names or ())]
    except Exception:  # a reader whose metadata does not parse: the data can still be read
        names = []
    # names for another count of channels than the data's are not this image's
    if len(names) == channels and any(names) and not all(map(MADE_UP_CHANNEL.match, names)):
        extras["channel_names"] = names
    try:
        interval = img.time_interval  # bioio: a timedelta; aicsimageio has none
    except Exception:
        interval = None
    # older bioio gave a bare number without its unit: no interval rather than a wrong one
    seconds = interval.total_seconds() if hasattr(interval, "total_seconds") else None
    if seconds and math.isfinite(seconds) and seconds > 0:
        extras["time_interval"] = seconds
    return extras


def read_with_bioio(path: Path, keep_alpha: bool = False) -> ImageData:
    """``path`` through bioio (else aicsimageio): its first scene, singleton T, C, Z dropped
    (a 2D image comes back YX), still lazy."""
    img, data = _open(path)
    # "TCZYX", or "TCZYXS" for RGB(A) samples; drop singleton T/C/Z so a 2D image comes back YX
    order = str(getattr(getattr(img, "dims", None), "order", "TCZYX"))
    keep = [i for i, (a, n) in enumerate(zip(order, data.shape)) if n > 1 or a in "YXS"]
    array = data[tuple(slice(None) if i in keep else 0 for i in range(len(order)))]
    array, axes = drop_alpha(array, "".join(order[i] for i in keep), path, keep_alpha)
    scenes = getattr(img, "scenes", ())
    if len(scenes) > 1:
        # as read_tiff's warn_other_series: a silent first scene lost the other positions
        shape = " x ".join(map(str, array.shape))
        warnings.warn(f"{path}: the file holds {len(scenes)} scenes; only the first ({shape}) "
                      "is read: save each scene as its own file to process the others",
                      DeblurWarning, stacklevel=4)
    channels = int(data.shape[order.index("C")]) if "C" in order else 1
    return ImageData(array=array, axes=axes, pixel_size=_pixel_size(img), path=str(path),
                     metadata=_extras(img, channels))
