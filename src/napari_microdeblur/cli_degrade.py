"""`microdeblur degrade IN -o OUT --protocol A`: a sharp image blurred and noised by a protocol
of docs/evaluation.md (``core.degrade``), written as a float32 TIFF that keeps what the input
states (pixel sizes, axes, channel names, time interval, LUTs), as deblur's output does, and
records how it was made (``degradation_record``).

The record is ``{"degradation": {...}, "software_version", "created"}``: protocol, seed, PSF,
noise, the intensity scale the noise is relative to, and the input's name and sha256, all
under ``degradation``. It has no top-level ``source_file`` or ``method``: a folder scan
(``core.scan_outputs``) leaves a file whose record names another file of the scan out of a
batch as an output made from it (the degraded files are what a batch is to deblur), and
it records no deblur. `microdeblur info` words it with ``degradation_lines``."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np

from .core.shown import shown_path

#: the key of a degrade record's fields (``core.provenance.RECORD_KEY``'s record)
DEGRADATION_KEY = "degradation"


def nonfinite_refusal(image: np.ndarray, source) -> str | None:
    """The line refusing an input ``source`` whose ``image`` holds NaN or Inf pixels (named,
    counted, as evaluate says it), or None where every pixel is finite."""
    count = int(np.count_nonzero(~np.isfinite(image))) if image.dtype.kind in "fc" else 0
    if not count:
        return None
    pixels = f"{count} NaN or Inf pixel{'s' * (count > 1)} (of {image.size})"
    return (f"input {shown_path(source)} holds {pixels}; a degradation needs finite "
            "intensities: replace them in the file (e.g. with np.nan_to_num in Python) and save "
            "it again")


def degradation_record(protocol: str, seed: int, source, image: np.ndarray, axes: str) -> dict:
    """How ``image`` (read from the file ``source``, on ``axes``) was degraded: the protocol's
    PSF and noise (``protocol_fields``), the seed, the intensity scale its noise levels are
    relative to (``metrics.reference_scale``) and the input (name, sha256, size, time). Plain
    JSON, no folder of the user's (``provenance.file_names``)."""
    from . import __version__
    from .core import metrics, provenance
    from .core.degrade import protocol_fields

    offset, scale = metrics.reference_scale(image, name="image")
    fields = {**protocol_fields(protocol), "seed": int(seed), "axes": axes,
              "intensity_scale": {"offset": float(offset), "scale": float(scale)},
              "source_file": Path(source).name, **provenance.input_identity(source)}
    record = {DEGRADATION_KEY: fields, "software_version": __version__,
              "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
                  timespec="seconds")}
    return provenance.file_names(provenance.plain_values(record))


def is_degradation_record(record) -> bool:
    """Whether a file's record is that of `microdeblur degrade`, not of a deblur."""
    return isinstance(record, dict) and isinstance(record.get(DEGRADATION_KEY), dict)


def _noise_words(noise) -> str:
    if not isinstance(noise, dict):
        return "noise not recorded"
    sigma = noise.get("gaussian_sigma")
    gauss = f"Gaussian noise sigma {sigma:.4g}" if isinstance(sigma, (int, float)) else ""
    peak = noise.get("poisson_peak_photons")
    if isinstance(peak, (int, float)):  # protocol B: shot noise, then the camera's read noise
        return f"Poisson noise (peak {peak:g} photons)" + (f" + read {gauss}" if gauss else "")
    return gauss or "noise not recorded"


def _range_words(scale) -> str:
    """' of the intensity range 0 to 3000': what the noise levels are relative to."""
    if not isinstance(scale, dict):
        return ""
    offset, size = scale.get("offset"), scale.get("scale")
    if not all(isinstance(v, (int, float)) for v in (offset, size)):
        return ""
    return f" of the intensity range {offset:.6g} to {offset + size:.6g}"


def degradation_lines(record: dict) -> list[str]:
    """What `microdeblur info` can say of a degrade record: the protocol, PSF, noise and seed,
    then the input, time and version ('made from ...', as a deblur's record is said)."""
    fields = record.get(DEGRADATION_KEY)
    fields = fields if isinstance(fields, dict) else {}
    shape = fields.get("psf_shape")
    side = (f" ({' x '.join(map(str, shape))} px)" if isinstance(shape, list) and shape
            else "")
    sha = fields.get("input_sha256")
    parts = [f"from {fields.get('source_file') or 'an unrecorded source'}"
             + (f" (sha256 {sha[:12]})" if isinstance(sha, str) and sha else ""),
             record.get("created"),
             f"microdeblur {record['software_version']}" if record.get("software_version")
             else None]
    return [f"  degraded: protocol {fields.get('protocol', '?')}, PSF "
            f"{fields.get('psf', 'not recorded')}{side}, {_noise_words(fields.get('noise'))}"
            f"{_range_words(fields.get('intensity_scale'))}, seed {fields.get('seed', '?')}",
            "  made " + ", ".join(str(p) for p in parts if p)]


def cmd_degrade(args) -> int:
    """`microdeblur degrade` (``cli.cmd_degrade``)."""
    from .cli import UserError
    from .core import io, io_write
    from .core.axes import channel_index

    io_write.check_output_path(args.output, overwrite=args.overwrite, inputs=(args.input,),
                               suffixes=(".tif", ".tiff"))  # written as TIFF only
    data = io.read_image(args.input, lazy=False, for_output=True)
    image = np.asarray(data.array)
    if refusal := nonfinite_refusal(image, args.input):  # the file named, as evaluate does
        raise UserError(refusal)
    # torch (2 s) and scipy (0.5 s) after the paths are checked and the input is read
    from .core.degrade import degrade
    from .core.files import image_axes

    axes = image_axes(data, args.axes)  # a guess in doubt says so, as deblur's does
    try:
        blurred = degrade(image, args.protocol, seed=args.seed,
                          channel_axis=channel_index(axes))
    except ValueError as error:  # 'the image has shape ...': which file's
        raise UserError(f"{shown_path(args.input)}: {error}") from None
    # samples left after the alpha is dropped (two unmarked channels) are no alpha: written so
    out_axes = io.samples_as_channels(axes, blurred.shape)
    # the input's channel names, time interval and LUTs, as deblur keeps them (files._write);
    # its own record is not copied (write_image): this file's says how it was made
    record = degradation_record(args.protocol, args.seed, args.input, image, out_axes)
    io_write.write_image(args.output, blurred, axes=out_axes, pixel_size=data.pixel_size,
                         overwrite=args.overwrite, metadata=data.metadata, record=record)
    if not args.quiet:
        print(f"{args.output}: protocol {args.protocol}, seed {args.seed}, float32 {image.shape}")
    return 0
