"""A PSF against the image it deblurs, checked before any work: a file or array as large as
the image (a whole bead image) is cut to its support, a *model* that cannot fit is refused (its
depth only where the run deconvolves over Z), and so is any 3D PSF (model, file or array) for a
classical method on an image without Z or on one plane of a stack.

Both run in ``inference.prepare_deblur``, and the docks run them before a run starts (the
preparation itself runs in their worker)."""

from __future__ import annotations

import warnings

from .method import CLASSICAL_METHODS, MethodSpec, PsfArray
from .notes import DeblurWarning
from .shown import shown_path

__all__ = ["auto_3d_rule", "check_psf_model_fits", "check_spec_before_image",
           "fit_psf_to_image_of", "in_focus_plane_runs", "may_be_cut", "model_at_stack_depth",
           "psf_from_calibration", "runs_in_3d", "stack_depth_preview", "uncalibrated"]

#: What to change where a classical method gets a 3D PSF and one plane of a stack (a 'current
#: slice' run in the Deblur dock): the words of ``tile_options``, which refuses it in the run.
ONE_PLANE_FIX = "a 3D PSF needs the stack's planes: give the whole stack, or a 2D PSF"


def check_psf_model_fits(spec: MethodSpec, axes: str, shape, *, tile=None, overlap=None,
                         image: str = "the image") -> None:
    """Refuse, before any work, a PSF *model* (a file or array that large is cut to its support
    instead, ``fit_psf_to_image_of``) larger than the image it would deblur, a 3D PSF (model,
    file or array) on an image without Z or on one plane of a stack for a classical method,
    and a classical method's ``tile`` no larger than the PSF (advised as the run does, under
    ``overlap`` if given); each ``ValueError`` says what to change (``image`` names the image
    in it). A 3D model's depth is compared with the stack's
    only where the run deconvolves over Z (``runs_in_3d``): plane by plane only its
    in-focus plane is used. Cheap (a file's TIFF header is read, not its pixels): the deblur's
    own checks come later, after the slower parts of its preparation."""
    from .channel_psfs import channel_sources, part_axis, part_label
    from .psf import is_psf_model, parse_psf

    if parts := channel_sources(spec.psf):  # each channel's (RGB: colour's) PSF on its plane
        letter = part_axis(axes) or "C"
        for i, part in enumerate(parts):
            try:
                check_psf_model_fits(spec.replace(psf=part), axes.replace(letter, ""),
                                     tuple(n for a, n in zip(axes, shape) if a != letter),
                                     tile=tile, overlap=overlap, image=image)
            except ValueError as error:
                raise ValueError(f"{part_label(axes, i)} of psf: {error}") from None
        return
    if not (isinstance(spec.psf, str) and is_psf_model(spec.psf)):
        _check_psf_data_fits(spec, axes, shape, image)
        return
    kernel_shape = tuple(int(k) for k in parse_psf(spec.psf).shape)
    size = " x ".join(map(str, kernel_shape))
    classical = spec.name in CLASSICAL_METHODS
    psf_axes = "ZYX"[-len(kernel_shape):]
    if "Z" in psf_axes and "Z" not in axes and classical:
        raise ValueError(f"the PSF {spec.psf!r} is a 3D model ({size} px) but {image} has "
                         f"no Z axis (axes {axes}); choose a 2D PSF model or a z-stack")
    if "Z" in psf_axes and classical and shape[axes.index("Z")] < 2:
        raise ValueError(f"the PSF {spec.psf!r} is a 3D model ({size} px) but {image} has one "
                         f"plane; {ONE_PLANE_FIX} model")
    if "Z" in psf_axes and not runs_in_3d(spec, axes, shape):
        # plane by plane (a network, or 'auto' that runs one): only its in-focus plane is used
        psf_axes, kernel_shape = psf_axes[1:], kernel_shape[1:]
    elif "Z" in psf_axes and (deeper := model_at_stack_depth(spec, axes, shape)):
        # 'auto' in 3D runs the model computed at the stack's depth (image_settings), which
        # is narrower too (an optics model's side follows its depth)
        kernel_shape = tuple(int(k) for k in parse_psf(deeper).shape)
        spec, size = spec.replace(psf=deeper), " x ".join(map(str, kernel_shape))
    spatial = tuple(int(shape[axes.index(a)]) for a in psf_axes)
    if any(k > n for k, n in zip(kernel_shape, spatial)):
        raise ValueError(
            f"the PSF {spec.psf!r} is {size} px, larger than {image} "
            f"({' x '.join(map(str, spatial))} px in {psf_axes}); "
            f"{_smaller_model_fix(psf_axes, kernel_shape, spatial)}")
    halo = max(k // 2 for k in kernel_shape)
    if classical and isinstance(tile, int) and tile <= 2 * halo and max(spatial[-2:]) > tile:
        raise ValueError(f"tile {tile} is not larger than the PSF {spec.psf!r} ({size} px); "
                         f"{_tile_advice_for(spec, kernel_shape, spatial, overlap)}")


def _tile_advice_for(spec: MethodSpec, kernel_shape, spatial, overlap) -> str:
    """The run's advice (``tile_options.tile_advice``: the least tile within 3x the default
    tiling's work) for a classical ``spec`` of this PSF: 'at least 18' for gaussian:2 ran a
    256 x 256 image in 14 400 tiles, 71x the work."""
    from .method import classical_method
    from .psf import parse_psf
    from .tile_options import tile_advice  # torch: imported only to refuse

    kernel = parse_psf(spec.psf)
    while kernel.ndim > len(kernel_shape):  # run plane by plane: its in-focus plane
        kernel = kernel[kernel.shape[0] // 2]
    method = classical_method(spec.name, kernel)  # its reach is the PSF's, whatever settings
    return tile_advice(method, spatial, overlap, len(spatial))


def _smaller_model_fix(psf_axes: str, kernel_shape, spatial) -> str:
    """What to change where a PSF model is larger than the image: a 3D model deeper than the
    stack (only optics models have planes, from nz=) takes fewer planes, odd so it has a
    middle one, or a 2D model (its 'smaller sigma' was no fix); a wider one a narrower model."""
    wide = any(k > n for k, n in zip(kernel_shape[-2:], spatial[-2:]))
    if psf_axes[0] != "Z" or kernel_shape[0] <= spatial[0]:
        return "choose a narrower PSF model (e.g. a smaller sigma) or a larger image or region"
    odd = spatial[0] if spatial[0] % 2 else spatial[0] - 1  # nz is odd: the in-focus middle
    fewer = (f"give nz={odd} or fewer in it (odd, at most the stack's {spatial[0]} planes) "
             "or a 2D PSF model (no nz)") if odd > 1 else "choose a 2D PSF model (no nz)"
    return fewer + (", and a smaller size= or a larger region" if wide else ", or a deeper stack")


def model_at_stack_depth(spec: MethodSpec, axes: str, shape) -> str | None:
    """For 'auto', an optics PSF model deeper than the z-stack (nz= above its planes) as text
    with nz= the largest odd number of planes the stack holds, the rest (dz= too) as given;
    None for any other spec, or where that leaves under 3 planes. A method chosen by name is
    refused such a model with the fix (``check_psf_model_fits``); 'auto' judges the model at
    this depth for 3D (``bundled.auto_3d_kernel``): on 6 and 8 planes 3D Richardson-Lucy with
    it beat the network given the deep model in all 16 cases (psf3d_auto_mid.json, deep_model)."""
    from .psf import is_psf_model, optics_arguments

    if (spec.name != "auto" or spec.weights is not None or "Z" not in axes
            or not (isinstance(spec.psf, str) and is_psf_model(spec.psf))):
        return None
    planes = int(shape[axes.index("Z")])
    kind, _, rest = spec.psf.strip().partition(":")
    if kind.strip().lower() not in ("widefield", "confocal"):
        return None  # the other models are 2D
    try:  # its planes read from the text: the dock asks on its GUI thread, and nz=63 took 10 s
        nz = optics_arguments(kind.strip().lower(), rest, spec.psf, required=()).get("nz", 1)
    except ValueError:
        return None  # the spec's own check says what is wrong with it
    odd = planes if planes % 2 else planes - 1
    if nz <= planes or odd < 3:
        return None
    items = [item.strip() for item in rest.split(",") if item.strip()]
    items = [f"nz={odd}" if item.partition("=")[0].strip().lower() == "nz" else item
             for item in items]
    return f"{kind.strip()}:{','.join(items)}"


def stack_depth_preview(spec: MethodSpec, axes: str, shape):
    """``psf.psf_preview``'s (image, caption) of the optics model 'auto' deconvolves a z-stack
    with in 3D where ``spec``'s is deeper than the stack: computed at the stack's depth
    (``model_at_stack_depth``), said (the Deblur dock read '41 x 73 x 73 px ... 2% of the
    light' of the model as typed); None where the run takes that one (plane by plane)."""
    from .psf import parse_psf, psf_preview

    deeper = model_at_stack_depth(spec, axes, shape)
    if deeper is None or not runs_in_3d(spec, axes, shape):
        return None
    image, description = psf_preview(deeper)
    typed, used = parse_psf(spec.psf).shape, parse_psf(deeper).shape  # cached: no work
    planes = int(shape[axes.index("Z")])
    return image, (f"{description}; as 'auto' runs it in 3D: computed with nz={used[0]} for "
                   f"the {planes}-plane stack, not nz={typed[0]} as typed "
                   f"({' x '.join(map(str, typed))} px)")


def runs_in_3d(spec: MethodSpec, axes: str, shape) -> bool:
    """Whether a run of ``spec`` on an image of ``axes`` and ``shape`` deconvolves over Z with a
    3D PSF, as the run settles it without reading the image: a classical method (or 'auto'
    that becomes Richardson-Lucy in 3D, ``image_settings.spec_before_image``) whose PSF, fitted to
    the image, is 3D, on more than one plane. A network (PSF-aware ones are 2D), a PSF
    estimated from the image, or one plane: plane by plane, a 3D PSF's in-focus plane only.
    The Deblur dock asks it too (its PSF-scale note compares Z only then)."""
    from .image_settings import spec_before_image

    shape = tuple(int(n) for n in shape)
    if "Z" not in axes or shape[axes.index("Z")] < 2:
        return False
    spec = spec_before_image(spec, axes, shape)
    if spec is None or spec.name not in CLASSICAL_METHODS:
        return False
    try:  # a classical Method's spatial dims: its PSF's, as fitted to the image
        kernel = spec.psf_for_image(axes, shape)
    except (ValueError, TypeError, OSError):
        return False  # the run says what is wrong with it
    return kernel is not None and kernel.ndim == 3


def auto_3d_rule(spec: MethodSpec, axes: str, shape) -> str:
    """The rule by which 'auto' runs a z-stack with a 3D PSF in 3D or plane by plane, with its
    numbers (``bundled.auto_3d_kernel``): the share of the PSF's light in its in-focus plane,
    as judged (cut to the stack; a deeper model at the stack's depth), against the threshold
    for the stack's planes (``bundled.in_focus_share_for_3d``). '' where no such rule applies
    (another method, weights, no 3D PSF, one plane, RGB) or the PSF is refused."""
    from .axes import is_rgb
    from .bundled import MOST_PLANES_FOR_ANY_3D, auto_3d_kernel, in_focus_share_for_3d
    from .psf import in_focus_share, parse_psf

    shape = tuple(int(n) for n in shape)
    if (spec.name != "auto" or spec.weights is not None or "Z" not in axes
            or shape[axes.index("Z")] < 2 or is_rgb(axes, shape)):
        return ""
    planes = shape[axes.index("Z")]
    try:
        judged = spec.psf_for_image(axes, shape)
        if judged is None or judged.ndim != 3 or judged.shape[0] < 2:
            return ""
        if deeper := model_at_stack_depth(spec, axes, shape):
            judged = parse_psf(deeper)
        in_3d = auto_3d_kernel(spec, axes, shape) is not None
    except (ValueError, TypeError, OSError):
        return ""
    share, limit = in_focus_share(judged), in_focus_share_for_3d(planes)
    if in_3d != (share < limit):
        return ""  # not judged by the share alone (a model too deep for the stack)
    digits = 1 if round(100 * share) == round(100 * limit) else 0
    most = MOST_PLANES_FOR_ANY_3D
    which = (f"3 to {most} planes" if 3 <= planes <= most
             else f"over {most} planes" if planes > most else "2 planes")
    computed = f", computed with nz={judged.shape[0]}" if deeper else ""
    return (f"{'' if in_3d else 'plane by plane: '}in-focus plane {share:.{digits}%} of the 3D "
            f"PSF's light{computed}, {'' if in_3d else 'not '}under the {limit:.0%} limit for "
            f"3D on stacks of {which} (this one: {planes})")


def _check_psf_data_fits(spec: MethodSpec, axes: str, shape, image: str) -> None:
    """``check_psf_model_fits`` for a PSF file or array: a 3D one on an image without Z, or
    on one plane of a stack, is refused for a classical method in a 3D model's words (the run
    itself refuses it later, and in other words). Its size is not checked: one as large as
    the image is cut to its support."""
    if spec.name not in CLASSICAL_METHODS or ("Z" in axes and shape[axes.index("Z")] > 1):
        return
    psf_shape = psf_data_shape(spec.psf)
    if psf_shape is None or len(psf_shape) != 3:
        return
    # a file the CLI read once: its own size, not the odd size read_psf padded it to
    origin = spec.psf.origin if isinstance(spec.psf, PsfArray) else spec.psf
    if isinstance(origin, str) and len(psf_data_shape(origin) or ()) == 3:
        psf_shape = psf_data_shape(origin)
    name = f" {shown_path(origin)}" if isinstance(origin, str) else ""
    size = " x ".join(map(str, psf_shape))
    sizes = " x ".join(str(int(n)) for a, n in zip(axes, shape) if a in "ZYX")
    if "Z" in axes:
        raise ValueError(f"the PSF{name} is 3D ({size} px) but {image} has one plane; "
                         f"{ONE_PLANE_FIX} ({image}: {sizes} px)")
    # how to get a 2D PSF: no command cuts a plane, but 'auto' takes the in-focus one itself
    raise ValueError(f"the PSF{name} is 3D ({size} px) but {image} has "
                     f"no Z axis (axes {axes}); choose a 2D PSF or a z-stack ({image}: {sizes} "
                     "px), or the method 'auto', whose PSF-aware network uses the 3D PSF's "
                     "in-focus plane (a 2D PSF is that plane saved as a YX TIFF)")


def psf_data_shape(psf) -> tuple[int, ...] | None:
    """The shape of a PSF array, or of a TIFF file's PSF from its header alone (singleton axes
    dropped, as ``psf.read_psf`` drops them); None where that is not known here (no PSF, an
    estimate, an unreadable file or one with channels: reading it says what is wrong)."""
    if isinstance(psf, PsfArray):
        return tuple(psf.shape)
    if not (isinstance(psf, str) and psf.strip().lower().endswith((".tif", ".tiff"))):
        return None
    import tifffile

    try:
        with tifffile.TiffFile(psf.strip()) as tif:
            series = tif.series[0]
            shape, series_axes = tuple(int(n) for n in series.shape), series.axes
    except Exception:  # noqa: BLE001 - tifffile raises several types; read_psf names them
        return None
    if any(n > 1 and a not in "ZYXQI" for a, n in zip(series_axes, shape)):
        return None  # colour or channels: read_psf refuses it in its own words
    return tuple(n for n in shape if n > 1)


def fit_psf_to_image_of(spec: MethodSpec, axes: str, shape) -> MethodSpec:
    """The spec with a PSF file or array as large as the image (a whole bead image, say) cut to
    its support; the one-line note saying so goes out as a warning. Others are unchanged."""
    from .channel_psfs import channel_sources
    from .psf import fit_psf_to_image, is_psf_model, parse_psf
    from .psf_estimate import is_estimate

    if spec.psf is None or (isinstance(spec.psf, str) and (
            is_psf_model(spec.psf) or is_estimate(spec.psf) or channel_sources(spec.psf))):
        return spec  # a model PSF wider than the image stays refused: its support is the model

    given = spec.psf.shape if isinstance(spec.psf, PsfArray) else None
    spec = _cleaned_as_a_file(spec)
    kernel = spec.psf.array if isinstance(spec.psf, PsfArray) else parse_psf(spec.psf)
    spatial = [shape[axes.index(a)] for a in "ZYX"[-kernel.ndim :] if a in axes]
    if in_focus_only := kernel.ndim == 3 and in_focus_plane_runs(spec, axes, shape):
        # a network uses the in-focus plane of a 3D PSF: fit it in Y and X only (a bead
        # stack's planes wider than the image were refused as too large; on one plane of a
        # stack the cut kept the plane at the centroid, its wings cut at 1e-3 of the 3D peak:
        # up to 2.1 % of the max off the same plane run as a 2D image)
        spatial = [kernel.shape[0] + 1, *spatial[-2:]]
    if len(spatial) != kernel.ndim:
        return spec  # the method's own check names the dimension mismatch
    label = f"({' x '.join(map(str, spatial))} px)"  # in the words of the PSF's size
    if in_focus_only:  # Z was only room for the PSF
        label = f"({' x '.join(map(str, spatial[1:]))} px in YX)"
    # an array is named, as a file is, so that it is not cleaned a second time
    named = _file_label(spec.psf, kernel.shape) or f"array (shape {tuple(given or kernel.shape)})"
    fitted, note = fit_psf_to_image(kernel, tuple(spatial), image_label=label, psf_label=named)
    if note is None:
        return spec
    warnings.warn(note, DeblurWarning, stacklevel=2)
    return spec.replace(psf=fitted)


def in_focus_plane_runs(spec: MethodSpec, axes: str, shape) -> bool:
    """Whether a run of ``spec`` takes only the in-focus plane of a 3D PSF: a network (named,
    or weights) on any image, and 'auto' on an image without Z or of one plane (on a deeper
    stack it may run Richardson-Lucy in 3D: ``bundled.auto_runs_in_3d``). Such a PSF is
    fitted to the image in Y and X only, as the CLI fits it to a 2D image."""
    if spec.name in CLASSICAL_METHODS:
        return False
    one_plane = "Z" not in axes or int(shape[axes.index("Z")]) < 2
    return one_plane or spec.name != "auto" or spec.weights is not None


def may_be_cut(spec: MethodSpec, axes: str, shape) -> bool:
    """Whether ``fit_psf_to_image_of`` may cut ``spec``'s PSF file to an image of ``axes`` and
    ``shape`` (as large as the image on an axis), from the file's header; True where that
    does not say. The Deblur dock previews such a file as the run takes it."""
    kernel = psf_data_shape(spec.psf)
    if kernel is None:
        return True
    kernel = tuple(k + (k % 2 == 0) for k in kernel)  # read_psf pads an even side to odd
    spatial = [shape[axes.index(a)] for a in "ZYX"[-len(kernel):] if a in axes]
    if len(kernel) == 3 and (in_focus_plane_runs(spec, axes, shape) or (
            len(spatial) == 3 and spatial[0] == 1)):  # its in-focus plane: Y and X only
        kernel, spatial = kernel[1:], spatial[-2:]
    return len(spatial) == len(kernel) and any(k >= n for k, n in zip(kernel, spatial))


def _cleaned_as_a_file(spec: MethodSpec) -> MethodSpec:
    """``spec`` with an in-memory PSF array cleaned as ``psf.read_psf`` cleans a file (on its
    own values: undershoot to -5 % of the peak clipped, background, centring), its DeblurNote
    in a file's words; else as given. It was cleaned after ``check_psf`` had clipped it, so a
    clip went unsaid and, nothing else found, the raw array ran: refused by the classical
    methods after the iterations search. A file the CLI read once was cleaned when read."""
    import numpy as np

    from .notes import DeblurNote
    from .psf import check_psf
    from .psf_file import clean_psf

    if not isinstance(spec.psf, PsfArray) or spec.psf.origin is not None:
        return spec
    raw = spec.psf.array
    check_psf(raw, raw.ndim)  # refuses what a PSF cannot hold, in one line, before any work
    cleaned, notes = clean_psf(raw.astype(np.float64))
    if not notes:
        return spec  # a clean PSF runs bit-identical
    warnings.warn(f"the PSF array {tuple(raw.shape)}: {'; '.join(notes)}, as for a PSF file "
                  "(on a copy: the array given is not changed)", DeblurNote, stacklevel=3)
    return spec.replace(psf=PsfArray.from_array(cleaned / cleaned.sum()))


def _file_label(psf, used=None) -> str | None:
    """'NAME (14 x 224 x 305 px)' for a PSF file (or one the CLI read once): its own size, not
    the odd size ``read_psf`` pads it to, and where the run takes it at another size (``used``:
    resampled to the image's voxels) that one too; None for an array."""
    origin = psf.origin if isinstance(psf, PsfArray) else psf
    shape = psf_data_shape(origin) if isinstance(origin, str) else None
    if not shape:
        return None
    sides = " x ".join(map(str, shape))
    if used is None or len(used) != len(shape) or all(
            k == n + (1 - n % 2) for k, n in zip(used, shape)):  # as read, odd sides at most
        return f"{shown_path(origin)} ({sides} px)"
    resampled = " x ".join(map(str, used))
    return f"{shown_path(origin)} ({sides} px, {resampled} px at the image's voxels)"


def psf_from_calibration(spec, pixel_size, axes: str | None = None) -> MethodSpec:
    """``spec`` with an optics PSF that lacks pixel= (or dz= with nz=) given the pixel size
    the image file states (``psf.with_calibration``; each part of one PSF per channel), one
    line saying so as a warning; anything else unchanged. The record then holds the PSF as
    it ran. An array has no file, so ``inference.deblur`` still refuses such a spec.
    ``axes``, the image's: a 3D model lacking dz= on an image without Z is told to drop nz=
    (it was told to add a dz=, and then refused as 3D)."""
    from .channel_psfs import CHANNEL_SEPARATOR, channel_sources, part_label
    from .psf import calibration_gaps, with_calibration

    if not isinstance(spec, MethodSpec) or not isinstance(spec.psf, str):
        return spec
    parts = channel_sources(spec.psf)
    done = [with_calibration(part, pixel_size) for part in parts or [spec.psf]]
    for i, (text, _) in enumerate(done):
        if calibration_gaps(text):  # the spec's own check said only 'lacks pixel'
            lead = f"{part_label(axes or '', i)}: " if parts else ""
            raise ValueError(lead + uncalibrated(text, pixel_size, axes))
    if not any(note for _, note in done):
        return spec
    for i, (_, note) in enumerate(done):
        if note:
            lead = f"{part_label(axes or '', i)}: " if parts else ""
            warnings.warn(lead + note, DeblurWarning, stacklevel=3)
    return spec.replace(psf=CHANNEL_SEPARATOR.join(text for text, _ in done))


def uncalibrated(spec: str, pixel_size, axes: str | None = None) -> str:
    """Why the optics ``spec`` still lacks pixel= (or dz=) after the image file's sizes were
    looked at: what the file states, and what to add to the spec (or, for a 3D model lacking
    only dz= on an image of ``axes`` without Z, what to leave out)."""
    from .psf import calibration_gaps

    sizes = {a: v for a, v in (pixel_size or {}).items() if a in "ZYX"}
    gaps = calibration_gaps(spec)
    if gaps == ["dz"] and axes is not None and "Z" not in axes:
        return (f"psf={shown_path(spec)} is a 3D model (nz=) but the image has no Z axis "
                f"(axes {axes}): leave out nz= for a 2D PSF (dz=, a Z step in um, is for "
                "z-stacks)")
    if "pixel" in gaps and {"Y", "X"} <= sizes.keys():
        stated = (f"states Y {sizes['Y']:g} and X {sizes['X']:g} um, which give none (unequal, "
                  "or no microscope's, such as a TIFF's 72 dpi default)")
    elif "pixel" in gaps:
        stated = "states no pixel size"
    elif "Z" in sizes:  # stated, but no microscope's (a Z unit read wrongly, say)
        stated = (f"states a Z step of {sizes['Z']:g} um, which gives none (no microscope's; "
                  "is the file's Z unit right?)")
    else:
        stated = "states no Z step"
    example = spec.rstrip(",") + "".join(f",{k}={'0.065' if k == 'pixel' else '0.2'}"
                                         for k in gaps)
    return (f"psf={shown_path(spec)} lacks {' and '.join(f'{k}=' for k in gaps)} and the image "
            f"file {stated}; add {'them' if len(gaps) > 1 else 'it'} in um, e.g. "
            f"{shown_path(example)}")


#: values standing in for an optics PSF's pending pixel= and dz= (um) while its options are
#: checked before any file gives them
_STAND_IN = {"pixel": 0.1, "dz": 0.2}


def check_spec_before_image(spec: MethodSpec) -> MethodSpec:
    """``spec.check()``, except that an optics PSF lacking only what an image file's
    calibration gives (pixel=, dz=: ``psf.calibration_gaps``) has its keys checked here and
    its values once each file fills them in (``psf_from_calibration``): the files of a batch
    may differ. Returns ``spec`` as given."""
    from .channel_psfs import CHANNEL_SEPARATOR, channel_sources
    from .psf import calibration_gaps, optics_arguments

    parts = channel_sources(spec.psf) if isinstance(spec.psf, str) else None
    sources = parts or [spec.psf]
    if not any(calibration_gaps(source) for source in sources):
        return spec.check()
    for source in filter(calibration_gaps, sources):
        kind, _, rest = source.strip().partition(":")
        optics_arguments(kind.strip().lower(), rest, source, required=("na", "wavelength"))
    # the other options checked as usual, the pending values standing in (a 2D stand-in had
    # refused 'auto' --iterations, which a 3D optics PSF reads on a z-stack)
    stand_in = [source + "".join(f",{gap}={_STAND_IN[gap]}" for gap in calibration_gaps(source))
                for source in sources]
    spec.replace(psf=CHANNEL_SEPARATOR.join(stand_in)).check()
    return spec
