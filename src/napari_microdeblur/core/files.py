"""File to file: deblur one image file into a new TIFF, and find the files of a batch.

The output is written region by region into a temporary file next to it and renamed into
place only when complete, so an interrupted batch can simply be run again: finished outputs
exist and are skipped, unfinished ones left nothing behind.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Generator
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import io, io_write
from .axes import (
    check_axes,
    given_axes_notes,
    guessed_axes_note,
    is_rgb,
    is_rgba,
    narrow_plane_note,
    z_run_note,
)
from .batch_outputs import (  # noqa: F401 - here before, and core.cluster's
    DiskFullError,
    EarlierOutputs,
    full_disk_named,
    full_disk_stop,
    header_record,
)
from .channel_psfs import channel_sources, part_label
from .inference import PreparedDeblur, prepare_deblur, split_options
from .input_files import (  # noqa: F401 - here before; moved for `focus`/`info` (no torch)
    IMAGE_SUFFIXES,
    find_inputs,
    folder_images,
    unread_said,
)
from .method import Method, MethodSpec, PsfArray
from .notes import DeblurWarning
from .output_cast import counted_steps
from .png_output_dtype import refuse_unheld_png_dtype
from .progress import DeblurProgress, DeblurResult, drive
from .provenance import RECORD_KEY, deblur_record
from .psf_fit import psf_from_calibration
from .psf_scale import psf_scale_note
from .run_paths import check_weights_output  # noqa: F401 - here before; moved (no torch)
from .shown import shown_path
from .tiling_spec import TilingSpec


def iter_deblur_file(
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    axes: str | None = None,
    overwrite: bool = False,
    method: MethodSpec | Method | str = "auto",
    tiling: TilingSpec | None = None,
    models=None,
    data: io.ImageData | None = None,
    record_extra: dict | None = None,
    **options,
) -> Generator[DeblurProgress, None, DeblurResult]:
    """Deblur ``source`` into ``output`` (TIFF, Zarr for .zarr, or for one 8- or 16-bit plane
    a PNG of the input's type, its values clipped to that range: ``io_write.png_dtype``):
    progress records, then the DeblurResult.

    ``method`` is a MethodSpec (or a resolved Method) with ``tiling`` a TilingSpec, or a name
    with the keyword options of ``inference.iter_deblur``. Everything is checked, the input
    opened and the normalisation computed before the first record, so a bad file or option
    fails before anything is written. An alpha channel (RGBA, gray + alpha) is passed through:
    the output has the input's samples. ``models``: a ``checkpoint.ModelCache`` shared by the
    files of a batch, so each file's settings (an estimated PSF, say) are its own but the
    network is loaded once. ``data``: ``source`` as a caller already read it (with
    ``keep_alpha=True``), so a file is not read twice (``microdeblur watch`` scores it first).
    The output records how it was made (``core.provenance``: method, weights sha256, PSF,
    settings found on the image), read back as ``io.read_image(...).metadata['microdeblur']``;
    ``record_extra``: a caller's own fields added to that record (``microdeblur watch``: why
    the file was deblurred), checked with the rest before anything is written.
    """
    if tiling is None:
        method, tiling = split_options(method, **options)
    elif options:
        raise TypeError(f"unexpected options {sorted(options)} next to tiling=TilingSpec(...)")
    # the PSF and weights files too: with overwrite, -o mypsf.tif --psf mypsf.tif replaced it
    io_write.check_output_path(output, overwrite=overwrite, inputs=files_read(source, method),
                               png=True)
    if data is None:
        # the core passes an alpha through; a pyramid's line says the output holds one level
        data = io.read_image(source, keep_alpha=True, for_output=True)
    guessed, axes = not axes and not data.stated, image_axes(data, axes)
    png = None
    if io_write.is_png(output):  # the input's 8 or 16 bits; run in float32 to count clipping
        png = io_write.png_dtype(output, data.array.dtype, axes, data.array.shape)
        # an output_dtype it would not hold (float32 given by name, np.float64, 'banana') was
        # written as 8 bits unsaid; 'input', the input's type and TilingSpec's default pass
        refuse_unheld_png_dtype(output, options.get("output_dtype", tiling.output_dtype), png,
                                by_name="output_dtype" in options)
        tiling = replace(tiling, output_dtype="float32")
    # an optics PSF without pixel= (or dz=) takes the file's calibration, said in one line
    method = psf_from_calibration(method, data.pixel_size, axes)
    # a PSF file stating other voxels than the image's is resampled to them (it was only said)
    method, resampled, done = _resampled_psf(method, data, axes, source)
    psfs, each, dones = _resampled_channel_psfs(method, data, axes, source)
    resampled, done = resampled or each, done or dones
    prepared = prepare_deblur(data.array, axes, method, tiling, models=models,
                              channel_psfs=psfs)
    if guessed and (layout := getattr(prepared, "layout", None)) and (
            note := z_run_note(data.array.shape, layout, prepared.method.name)):
        warnings.warn(f"{data.path}: {note}", DeblurWarning, stacklevel=2)  # a time series?
    if resampled:
        warnings.warn(resampled, DeblurWarning, stacklevel=2)
    else:
        _warn_psf_scale(method, data, axes, prepared, source)
    for card in _network_cards(prepared):
        for note in (card_pixel_note(card, data.pixel_size, image=shown_path(source)),
                     card_below_input_note(card)):
            if note:
                warnings.warn(note, DeblurWarning, stacklevel=2)
    _hint_viewable(output, data, axes, prepared)
    # how the output is made, in the output itself; the input's own record as 'previous'
    # from what to what a PSF file was resampled (one per channel: a list), as the dock's
    extra = {**(record_extra or {}), "psf_resampled": done} if done else record_extra
    record = deblur_record(prepared, method, source=source, pixel_size=data.pixel_size,
                           previous=data.metadata.get(RECORD_KEY), extra=extra, stored=png)
    if png is not None:  # one plane in memory, written whole: PNG has no regions
        return _write_png(prepared, output, data.pixel_size, overwrite, png, record)
    return _write(prepared, output, data.pixel_size, overwrite, data.metadata, record,
                  like=data.array)


#: how far the image's pixel size may be from the one the weights were trained at (either way)
PIXEL_SIZE_RATIO = 2.0


def _card_and_name(card) -> tuple[dict, str]:
    """A model card (pydantic or dict, or None) as a dict with ``metrics`` always a dict, and
    the name the card notes give the weights: their file's name (the whole path made the
    dock's one-line status too long to read), else their architecture."""
    card = dict((card.model_dump() if hasattr(card, "model_dump") else card) or {})
    card["metrics"] = card.get("metrics") or {}
    name = card.get("source") or card.get("arch")
    return card, shown_path(Path(str(name)).name) if name else "the network"


def card_pixel_note(card, pixel_size, *, image: str = "the image") -> str | None:
    """One line when weights whose card states the pixel size of their training images
    (``metrics['pixel_size_um']``, written by fine-tuning) run on an image whose Y/X pixel
    size (``pixel_size``: um per axis, from its file or layer scale) differs by more than
    ``PIXEL_SIZE_RATIO`` either way; None where they agree or either does not say. Weights
    fine-tuned at 0.512 um ran on a 0.105 um stack (5x finer) without a word."""
    from .pixel_units import stated_pixel_size

    card, name = _card_and_name(card)
    trained = card["metrics"].get("pixel_size_um")
    size = stated_pixel_size([pixel_size])
    if not isinstance(trained, (int, float)) or not trained > 0 or size is None:
        return None
    ratio = max(trained / size, size / trained)
    if ratio <= PIXEL_SIZE_RATIO:
        return None
    finer = "finer" if size < trained else "coarser"
    return (f"weights {name} were trained on images of {trained:.3g} um pixels; "
            f"{image} has {size:.3g} um pixels ({ratio:.1f}x {finer}): "
            f"results may be worse; resample the image to about {trained:.3g} um pixels, or "
            "fine-tune the weights on images at this pixel size")


def card_below_input_note(card) -> str | None:
    """One line when weights scored below the unprocessed input on their own validation
    (``metrics['val_psnr']`` under ``metrics['val_psnr_input']``, as training and fine-tuning
    write them): such weights make images worse, and ran without a word."""
    card, name = _card_and_name(card)
    metrics = card["metrics"]
    tuned, given = metrics.get("val_psnr"), metrics.get("val_psnr_input")
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (tuned, given)):
        return None
    if tuned >= given:
        return None
    return (f"weights {name} scored below the unprocessed input on their own "
            f"validation ({tuned:.2f} dB against {given:.2f} dB): they may make images worse; "
            "train or fine-tune them longer, or use another method")


def _network_cards(prepared: PreparedDeblur) -> list:
    """The model cards of the networks a prepared deblur runs (one per channel run)."""
    runs = prepared.channel_runs or (prepared,)
    return [c for run in runs if (c := (run.method.parameters or {}).get("card"))]


def _hint_viewable(output, data: io.ImageData, axes: str, prepared: PreparedDeblur) -> None:
    """8-bit RGB(A) written as float32 TIFF (the default, values beyond 0-255 kept): most
    viewers (Pillow, browsers, an OS's preview) cannot open it; say what gives one they can."""
    shape = tuple(data.array.shape)
    colour = is_rgb(axes, shape) or is_rgba(axes, shape)
    if (colour and io.is_tiff(output) and np.dtype(data.array.dtype) == np.uint8
            and np.dtype(prepared.output_dtype) == np.float32):
        warnings.warn(io_write.OutputHint(
            "8-bit RGB written as float32 TIFF, which many viewers cannot open; "
            "output_dtype='input' writes 8-bit RGB (values clipped to 0-255), as a .png "
            "output does"), stacklevel=3)


def _resampled_psf(method, data: io.ImageData, axes: str, source):
    """``(method, line, record)``: a MethodSpec whose one PSF file states a voxel size other
    than the file's, with the PSF resampled to the file's voxels, the line saying so and what
    was resampled (``psf_scale.psf_resampling``); else ``(method, '', None)``. A 50/100 nm PSF
    on a 100/300 nm stack: 21.72 dB as it was, 22.01 resampled (true PSF 23.03, cut to that
    extent 22.05)."""
    from .psf_fit import runs_in_3d
    from .psf_scale import psf_resampling

    if not isinstance(method, MethodSpec) or not data.pixel_size:
        return method, "", None
    # plane by plane a 3D PSF's Z step does not matter (its in-focus plane runs)
    compared = axes if runs_in_3d(method, axes, tuple(data.array.shape)) else axes.replace("Z", "")
    spec, note, done = psf_resampling(method, data.pixel_size, compared, image=shown_path(source))
    return (spec, note, done) if spec is not method else (method, "", None)


def _resampled_channel_psfs(method, data: io.ImageData, axes: str, source):
    """(each channel's PSF, the line saying what was resampled, each channel's record of it:
    None for one not resampled) where a PSF per channel has a file stating other voxels than
    the image's (``psf_scale.channel_resampling``); else (None, '', None)."""
    from .psf_scale import channel_resampling

    if not isinstance(method, MethodSpec) or not data.pixel_size:
        return None, "", None
    psfs, note, done = channel_resampling(method, data.pixel_size, axes,
                                          tuple(data.array.shape), image=shown_path(source))
    return psfs, note or "", done


def _warn_psf_scale(method, data: io.ImageData, axes: str, prepared: PreparedDeblur,
                    source) -> None:
    """A warning when the PSF was made for other pixels than the file's (its pixel= or dz=, or
    a PSF file's voxel size): a PSF at the wrong scale deblurs wrongly without any error. Its
    Z step only where its run deconvolves over Z: a 3D PSF run plane by plane uses its
    in-focus plane only. One PSF per channel: each channel's against its own run, since
    'auto' may run one channel in 3D and another plane by plane."""
    psf = method.psf if isinstance(method, MethodSpec) else None
    psf = psf.origin if isinstance(psf, PsfArray) else psf  # a file the CLI read once
    if not isinstance(psf, str):
        return
    image = shown_path(source)
    parts, runs = channel_sources(psf), prepared.channel_runs
    if parts and len(parts) == len(runs):
        notes = [(i, psf_scale_note(part, data.pixel_size, _compared_axes(axes, run),
                                    image=image))
                 for i, (part, run) in enumerate(zip(parts, runs))]
        note = "; ".join(f"{part_label(axes, i)}: {n}" for i, n in notes if n) or None
    else:
        note = psf_scale_note(psf, data.pixel_size, _compared_axes(axes, prepared), image=image)
    if note:
        warnings.warn(note, DeblurWarning, stacklevel=3)


def _compared_axes(axes: str, run: PreparedDeblur) -> str:
    """``axes``, without Z where ``run`` deblurs plane by plane (its layout has no Z)."""
    return axes if "Z" in run.layout.spatial_axes else axes.replace("Z", "")


#: How image_axes says to give the axes: the command line writes axes= as --axes itself
_GIVE_FILE_AXES = ("give the axes, e.g. axes={0!r}",
                   "give the axes, one letter of T, C, Z, Y, X, S per dimension (axes=...)")


def image_axes(data: io.ImageData, axes: str | None = None) -> str:
    """``axes`` when given, else the file's, else a guess (``check_axes``), refused where the
    file does not name them and they make planes of a few pixels (``narrow_plane_note``);
    where the file's axes or the guess are in doubt (``axes.guessed_axes_note``), a warning
    says what was assumed; given axes that contradict the file's are refused or said
    (``given_axes_notes``)."""
    shape = tuple(int(s) for s in data.array.shape)
    if axes:
        given = check_axes(axes, shape)
        for note in given_axes_notes(given, data.axes, data.stated, shape):
            warnings.warn(f"{data.path}: {note}", DeblurWarning, stacklevel=2)
        return given
    found = check_axes(data.axes or None, shape)
    # axes the file does not name (tifffile's unknown Q read as Z) are a guess: checked as one,
    # or a 128 x 128 x 2 image ran as 128 planes of 128 x 2 px without an error
    narrow = (narrow_plane_note(shape, found, *_GIVE_FILE_AXES)
              if data.axes and not data.stated else None)
    if narrow:
        raise ValueError(f"{shown_path(data.path)} does not name its axes, and reading them as "
                         f"{narrow}")
    note = data.note if data.axes else guessed_axes_note(shape, found)
    if note:
        warnings.warn(f"{data.path}: {note}", DeblurWarning, stacklevel=2)
    return found


def _write(prepared: PreparedDeblur, output, pixel_size, overwrite, metadata=None,
           record=None, like=None):
    # metadata: the input's channel names, time interval, LUTs (io.ImageData.metadata);
    # record: this run's (core.provenance)
    with io_write.open_output(output, prepared.shape, prepared.output_dtype, axes=prepared.axes,
                              pixel_size=pixel_size, overwrite=overwrite,
                              metadata=metadata, record=record, like=like) as target, \
            full_disk_named(output):  # the region writes' own: the bare '[Errno 28] ...'
        # values cast to the input's integer type counted over every plane and channel of
        # the file, said once (``output_cast``)
        result = yield from counted_steps(prepared.iter_run(out=target), shown_path(output))
    return _as_written(result, output)


def _write_png(prepared: PreparedDeblur, output, pixel_size, overwrite, stored, record):
    with io_write.open_png_output(output, prepared.shape, prepared.output_dtype,
                                  axes=prepared.axes, stored=stored, pixel_size=pixel_size,
                                  overwrite=overwrite, record=record) as target, \
            full_disk_named(output):
        result = yield from prepared.iter_run(out=target)
    return _as_written(result, output)


def _as_written(result: DeblurResult, output) -> DeblurResult:
    """``result`` whose image is the written file, opened lazily: the run's target was a
    temporary writer, closed (TIFF) or renamed (Zarr) once complete, and a caller reading
    ``result.image`` got an unusable object or, for a .zarr, zeros."""
    from dataclasses import replace

    return replace(result, image=io.read_image(output, lazy=True, keep_alpha=True).array)


def files_read(source, method) -> tuple:
    """The files a deblur of ``source`` with ``method`` (a ``MethodSpec``) reads: the image, its
    PSF file (one per channel for 'a.tif;b.tif') and weights file. An output is none of them
    (``io_write.check_output_path``'s ``inputs``: never replaced, even with overwrite); a PSF
    model ('gaussian:1.6') or a bundled name is no file there and matches no output; a PSF
    already read (``PsfArray``) names its file as ``origin``."""
    read = [source]
    if isinstance(method, MethodSpec):
        if isinstance(method.psf, PsfArray) and method.psf.origin:  # the CLI reads it first
            read.append(method.psf.origin)
        elif isinstance(method.psf, str):
            try:
                read += channel_sources(method.psf) or [method.psf]
            except ValueError:  # an empty channel's PSF: refused with its own words later
                read.append(method.psf)
        if method.weights:
            read.append(method.weights)
    return tuple(read)


def deblur_file(source, output, **options) -> DeblurResult:
    """Blocking twin of ``iter_deblur_file``: deblur the file ``source`` into ``output``
    (TIFF/OME-TIFF; OME-Zarr for ``.zarr``; PNG of the input's 8 or 16 bits for one plane)
    and return the DeblurResult, whose ``image`` is the written file opened lazily (read from
    disk when used). Options: ``axes``, ``overwrite``, ``method`` and the keywords of
    ``inference.deblur`` (see ``help(deblur)``)."""
    return drive(iter_deblur_file(source, output, **options))


def copy_atomically(src: str | os.PathLike, dst: str | os.PathLike, *,
                    overwrite: bool = True) -> None:
    """Copy ``src`` to ``dst`` through a hidden temporary file, so ``dst`` is never partial.
    ``overwrite=False`` (a run whose output was checked free when it began, as train --out
    without --overwrite): a file at ``dst`` now, written by another run meanwhile, is kept
    (``atomic_write.OutputExistsError``); True replaces it (a Save dialog already asked)."""
    import shutil

    from .atomic_write import appeared_error, move_into_place
    from .partials import fresh_temporary_name

    dst = Path(dst)
    if not overwrite and os.path.lexists(dst):  # not worth copying: the rename would refuse
        raise appeared_error(dst)
    tmp = fresh_temporary_name(dst)
    try:
        shutil.copy2(src, tmp)  # the mode and times of ``src`` kept, as before
        move_into_place(tmp, dst, overwrite)
    finally:
        tmp.unlink(missing_ok=True)


def output_name(source: Path, output_dir: Path, suffix: str = "_deblurred") -> Path:
    """OUTPUT_DIR/<stem><suffix>.tif (.ome.tif kept) for one input of a batch; another
    format's .ome goes with its suffix (img.ome.zarr: img_deblurred.tif, a TIFF as any other
    format's, not img.ome_deblurred.tif)."""
    name = source.name
    for ext in (".ome.tiff", ".ome.tif", ".tiff", ".tif"):
        if name.lower().endswith(ext):
            return output_dir / f"{name[: -len(ext)]}{suffix}{ext}"
    return output_dir / f"{image_stem(source)}{suffix}.tif"


def image_stem(path: Path) -> str:
    """A file's name without its extension, .ome going with it (a.ome.tif, a.ome.zarr: a)."""
    stem = path.stem
    if stem.lower().endswith(".ome") and len(stem) > 4:  # '.ome.zarr' alone: a hidden name
        stem = stem[:-4]
    return stem


def batch_pairs(inputs: list[Path], output_dir: Path, root: Path | None = None, *,
                earlier: EarlierOutputs | None = None) -> list[tuple[Path, Path]]:
    """(input, output) for each input of a batch into ``output_dir``, checked before any work;
    with ``root`` (the folder read with its subfolders), in ``output_dir``'s twin of the input's
    subfolder of ``root``. Two outputs differing only in case clash too: they are one file on
    macOS's and Windows' usual disks (Cell.png, cell.tif: one overwrote the other). An input
    that is another's output (a rerun into the inputs' folder) is left out where an earlier
    run made it (``header_record``), else refused: inputs are never replaced. ``earlier``:
    gets those left out, its ``read_at_most`` records read here (the caller checks the rest,
    ``EarlierOutputs.check_replaced``); None: every one read here."""
    targets: dict[str, tuple[Path, list[Path]]] = {}  # case-folded output -> (output, inputs)
    for source in inputs:
        folder = output_dir / source.parent.relative_to(root) if root else output_dir
        target = output_name(source, folder)
        key = os.path.normcase(str(target)).casefold()
        targets.setdefault(key, (target, []))[1].append(source)
    for target, sources in targets.values():
        # a.png and a.tif: the second was 'exists, skipped', never deblurred
        if len(sources) > 1:
            _refuse_clash(sources[:2], target, output_dir, root)
    # a second run into the inputs' own folder deblurred the first run's outputs again; but
    # an input of that name that no run made (a raw tile named a_deblurred.tif beside a.png)
    # was dropped too, and replaced with --overwrite: refused
    made = {t.resolve(): (t, s[0]) for t, s in targets.values()}
    earlier = EarlierOutputs() if earlier is None else earlier
    pairs = []
    for target, (source, *_) in targets.values():
        found = made.get(source.resolve())
        if found is None:
            pairs.append((source, target))
        else:
            earlier.add(found[0], source, owner=found[1])
    return pairs


def _refuse_clash(sources: list[Path], target: Path, output_dir: Path,
                  root: Path | None) -> None:
    """The ValueError of two inputs whose outputs are one file (``batch_pairs``)."""
    one, two = sources
    way = "rename one or deblur them separately"
    if one.parent != two.parent:  # a glob's files of one name in two folders
        top = Path(os.path.commonpath([one, two]))
        way = (f"give their folder with -r instead ({shown_path(top)} -r: each output in "
               f"the same subfolder of {shown_path(output_dir)}), or rename one")
    folder = output_dir / one.parent.relative_to(root) if root else output_dir
    other = output_name(two, folder)
    if other.name != target.name:  # names differing only in case
        raise ValueError(f"{shown_path(one)} and {shown_path(two)} would be written to "
                         f"{shown_path(target)} and {other.name}, one file on a disk that "
                         f"ignores case (macOS, Windows); {way}")
    raise ValueError(f"{shown_path(one)} and {shown_path(two)} would both be written "
                     f"to {shown_path(target)}; {way}")
