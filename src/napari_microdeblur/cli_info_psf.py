"""What `microdeblur info` says of a PSF file microdeblur wrote (psf-from-beads, the Deblur
dock's beads layer saved, psf-from-weights, train --export-psf, psf-estimate): its record in a
line or two, and with --command the psf-... command that remakes it (``cli_info``)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

#: how psf-estimate's report (``EstimatedPsf.describe``) begins
ESTIMATED_WORDS = "PSF estimated from the image"


def made_words(record: dict, part: str | None = None) -> str:
    """'from FILE, TIME, microdeblur VERSION': a layer saved from napari names its layer and
    when it was saved; what a record lacks is left out, not printed as None. ``part``: the
    part of FILE a dock's scope took ('plane Z=3', ``cli_info_rerun.part_words``)."""
    source = (record.get("source_file") or
              (f"napari layer {record['source_layer']!r}" if record.get("source_layer")
               else None))
    if part:
        source = f"{part} of {source or 'its input'} ({record.get('scope')})"
    when = record.get("created") or (f"saved {record['saved']}" if record.get("saved") else None)
    version = record.get("software_version")
    parts = [f"from {source}" if source else "from an unrecorded source", when,
             f"microdeblur {version}" if version else None]
    return ", ".join(p for p in parts if p)


def rerun_name(path: str) -> str:
    """'a_deblurred.ome.tif' -> 'a_deblurred_rerun.ome.tif': beside the file, not over it."""
    name = Path(path).name
    lower = name.lower()
    for suffix in (".ome.tiff", ".ome.tif", ".ome.zarr", *Path(name).suffixes[-1:]):
        if lower.endswith(suffix):
            return f"{name[:len(name) - len(suffix)]}_rerun{name[len(name) - len(suffix):]}"
    return f"{name}_rerun"


def rerun_path(path: str) -> str:
    """'out/a.tif' -> 'out/a_rerun.tif' (``rerun_name``): the path as given, so that the rerun
    writes beside the file from any folder (a bare name wrote into the current one)."""
    return str(Path(path).with_name(rerun_name(path)))


def is_psf_record(record) -> bool:
    """Whether ``record`` is that of a PSF microdeblur wrote, not of a deblurred image."""
    return isinstance(record, dict) and bool(
        record.get("psf_from_beads") or isinstance(record.get("psf_export"), dict)
        or record.get("psf_estimate"))


def plane_words(plane) -> str:
    """'the centre 256 x 256 px of Z 12 of the ZYX 25 x 512 x 512 image' of a
    psf-estimate record's ``plane``; '' where it holds none."""
    if not isinstance(plane, dict):
        return ""
    crop = plane.get("crop") if isinstance(plane.get("crop"), dict) else {}
    try:
        sides = [int(b) - int(a) for a, b in (crop.get(k, (0, 0)) for k in "YX")]
    except (TypeError, ValueError):  # a record edited by hand: its plane left unsaid
        return ""
    at = plane.get("at") if isinstance(plane.get("at"), dict) else {}
    where = f" of {', '.join(f'{a} {i}' for a, i in at.items())}" if at else ""
    shape = plane.get("shape") or []
    sides_all = " x ".join(map(str, shape))
    whole = f" of the {plane.get('image_axes')} {sides_all} image" if shape else ""
    averaged = ", channels averaged" if plane.get("channels_averaged") else ""
    return f"the centre {sides[0]} x {sides[1]} px{where}{whole}{averaged}"


def psf_lines(record: dict) -> list[str]:
    """The lines ``info`` prints under a PSF file's shape and pixel size."""
    if isinstance(record.get("psf_export"), dict):  # a PSF exported from weights, not a result
        return [f"  PSF: {record.get('method')}", f"  made {made_words(record)}"]
    if record.get("psf_estimate"):
        plane = plane_words(record.get("plane"))
        report = str(record.get("report", "report not recorded"))
        # the command's line begins 'PSF estimated from the image (GCV ...): ': said once
        said = report.split(": ", 1)[1] if report.startswith(ESTIMATED_WORDS) else report
        return [f"  PSF estimated from {record['psf_estimate']} (GCV blur identification"
                + (f", on {plane}" if plane else "") + f"): {said}",
                f"  made {made_words(record)}"]
    # psf-from-beads, or the dock's PSF layer saved
    return [f"  PSF from beads {record['psf_from_beads']}: "
            f"{record.get('report', 'report not recorded')}", f"  made {made_words(record)}"]


def psf_command(info: dict) -> tuple[str, str | None]:
    """(the command that remakes the PSF ``info`` describes, a note of what its record does
    not keep, or None): `microdeblur psf-from-beads BEADS -o ... --radius R` (R the PSF's own
    half sides: the default radius, given, gives the same PSF), `psf-from-weights WEIGHTS
    -o ...` or `psf-estimate IMAGE -o ... [--axes A]`; ValueError, saying why, where no
    command remakes it. Its record had been refused as that of no file microdeblur wrote."""
    name, record = Path(info["file"]).name, info["microdeblur"]
    out = rerun_path(info["file"])  # beside the file, from any folder
    export = record.get("psf_export")
    if isinstance(export, dict):
        if export.get("kernel") != "learned" or not export.get("weights"):
            raise ValueError(f"{name} holds the PSF a psf_cyclegan training run started from "
                             "(written by train --export-psf in place of a degenerate learned "
                             "one): psf-from-weights writes the learned PSF, so no command "
                             f"remakes it; keep {name} itself")
        return shlex.join(["microdeblur", "psf-from-weights", str(export["weights"]),
                           "-o", out]), None
    if record.get("psf_estimate"):  # --axes is the one option that changes the estimate
        axes = ["--axes", str(record["input_axes"])] if record.get("input_axes") else []
        return shlex.join(["microdeblur", "psf-estimate", str(record["psf_estimate"]),
                           "-o", out, *axes]), None
    return _beads_command(name, record, info, out)


def _beads_command(name: str, record: dict, info: dict, out: str) -> tuple[str, str | None]:
    beads = record.get("source_file") or record.get("bead_file")
    if not beads:  # the Deblur dock's PSF of a layer napari opened from no file
        raise ValueError(f"{name} was measured in napari from the layer "
                         f"{record.get('psf_from_beads')!r}, opened from no file: no command "
                         "remakes it; save that layer as a .tif and run microdeblur "
                         "psf-from-beads on it")
    radii = {(int(n) - 1) // 2 for n in info.get("shape") or []}
    radius = (str(radii.pop()) if len(radii) == 1
              else ",".join(str((int(n) - 1) // 2) for n in info["shape"]))
    words = ["microdeblur", "psf-from-beads", str(beads), "-o", out, "--radius", radius]
    if record.get("source_file") is None:  # the dock: its defaults, on the layer as opened
        return shlex.join(words), (f"{name} was measured in napari from the layer "
                                   f"{record.get('psf_from_beads')!r} of {beads}: the command "
                                   "remakes it where that layer was the file as it opened")
    if "threshold" in record:  # a record that keeps the options given
        words += ["--threshold", repr(record["threshold"])] if record["threshold"] else []
        words += ["--axes", str(record["input_axes"])] if record.get("input_axes") else []
        return shlex.join(words), None
    return shlex.join(words), (f"{name}'s record keeps no --threshold or --axes that "
                               "psf-from-beads was given: add any you gave")


def say_command_note(info: dict) -> None:
    """The note of what a PSF's record leaves out of its command, on stderr and in --json."""
    record = info.get("microdeblur")
    if isinstance(record, dict) and record.get("psf_from_beads"):
        if note := psf_command(info)[1]:
            info["command_note"] = note
            print(f"microdeblur: note: {note}", file=sys.stderr, flush=True)
