"""`microdeblur info FILE [FILE ...] [--json]` (cli.build_parser): each file's shape, dtype,
axes (stated or guessed), pixel sizes, channel names, time interval and how an output was made
(``core.provenance``), without its pixels (a TIFF's header, compressed too; Zarr and bioio lazily;
a PNG/JPEG is decoded). An unreadable file is one error line, the others still shown (exit 2)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

from .cli import EXIT_ERROR
from .cli_degrade import degradation_lines, is_degradation_record
from .cli_info_checkpoints import expanded_with_runs
from .cli_info_psf import (
    is_psf_record,
    made_words,
    psf_command,
    psf_lines,
    rerun_path,
    say_command_note,
)
from .cli_info_rerun import (
    asked_words,
    command_path,
    one_channel_refusal,
    part_words,
    ran_psf,
    say_part_note,
)
from .core.card_checks import shown_text
from .core.shown import first_line, shown_path

PARAMETERS = ("iterations", "balance", "tv_weight", "noise_scale")  # found on the image


def _tiff_data(path: Path):
    """(whether the TIFF states its axes, an ImageData as deblur reads it: its header where its
    pixels are compressed or tiled, which io.read_image would decode whole; else None: where
    tifffile cannot read it, io.read_image says why). The file is opened once: each opening
    parses its OME-XML again (opened twice, one of 47 MB took 1.1 s here, not 0.7); only a
    position's file is opened again, with its own Images' OME-XML (``with_own_images``)."""
    from .core.io import ImageData, read_tiff
    from .core.ome_datasets import open_tiff_file, refuse_dataset_gaps
    from .core.tiff_header import tiff_header, with_own_images

    try:  # a BinaryOnly position's file with its dataset's OME-XML, as deblur opens it
        tif = open_tiff_file(path)
    except Exception:  # noqa: BLE001 - io.read_image says why, in its words
        return False, None
    try:  # a position's file: its own position's shape, pixel sizes and channels, not Pos0's
        tif = with_own_images(tif, path)
        # then, as io.read_tiff, the gaps of its own Images' files only: another position's
        # files named by UUID only do not stop its header being read (axes said 'guessed')
        refuse_dataset_gaps(tif, path)  # a file of its own missing, or BinaryOnly: read_image says
        header = tiff_header(tif, extras=True)
    except Exception:  # noqa: BLE001 - as above
        tif.close()
        return False, None
    with tif:
        if header.contiguous:  # keep_alpha: the file's samples as deblur reads them, lazily
            return header.stated, read_tiff(path, keep_alpha=True, opened=tif)
        _say_first_image(tif, path)
    return header.stated, ImageData(SimpleNamespace(shape=header.shape, dtype=header.dtype),
                                    header.axes, header.pixel_size, str(path),
                                    metadata=header.metadata)


def _say_first_image(tif, path: Path) -> None:
    """What io.read_tiff says of a file it reads one image of (the others, a pyramid's lower
    levels), from the header: info of a compressed or tiled file had said neither."""
    from .core.io import warn_other_series
    from .core.ome_datasets import own_series
    from .core.zarr_metadata import note_levels

    warn_other_series(tif, path)
    if len(levels := (series := own_series(tif)[0]).levels) > 1:
        note_levels(path, {"datasets": levels}, series.shape)


def describe(path: str) -> dict:
    """Everything ``info --json`` prints for one file (the full record under 'microdeblur');
    weights' model card, or what a state dict holds (``cli_info_weights``)."""
    from .cli_info_weights import weights_info, weights_kind
    from .core import io
    from .core.axes import check_axes, guess_note, narrow_plane_note
    from .core.bundled_table import bundled_name_hint  # no torch (core.method's imports it)

    if kind := weights_kind(path):  # read as --weights reads it, not as an image
        return weights_info(path, kind)
    if not Path(path).exists() and (hint := bundled_name_hint(path, as_method=False)):
        raise FileNotFoundError(f"input file {shown_path(path)} does not exist{hint}")
    stated, data = True, None
    tiff = io.is_tiff(path) and Path(path).is_file()
    if tiff:
        stated, data = _tiff_data(Path(path))
    elif not io.is_zarr(path) and Path(path).suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"):
        stated = False  # these formats store no axes: YX or YXS by the number of dimensions
    if data is None:  # keep_alpha: the file's samples as deblur reads them, lazily
        data = io.read_image(path, keep_alpha=True)
        stated = data.stated if tiff else stated  # a TIFF whose header was not read: as read
    shape = tuple(int(n) for n in data.array.shape)
    stated = stated and bool(data.axes) and not data.note
    try:
        axes = check_axes(data.axes or None, shape)
        note = data.note or (None if stated else guess_note(shape, axes))
        # axes the file does not name are a guess, refused as deblur refuses it (a 128 x 128 x 2
        # TIFF written without axes showed 'ZYX (guessed)', 128 planes of 128 x 2 px)
        narrow = None if stated else narrow_plane_note(shape, axes)
        if narrow:
            axes, note = "", f"axes not read: the guess {narrow}"
    except ValueError as error:  # a guess of planes a few pixels wide is refused
        axes, note = "", first_line(error)
    extras = {k: v for k, v in data.metadata.items() if k != "microdeblur"}
    if "luts" in extras:  # ImageJ's 3 x 256 arrays in words (--json had printed their repr)
        from .core.imagej_luts import lut_name

        extras["luts"] = [lut_name(lut) for lut in extras["luts"]]
    return {"file": str(path), "shape": list(shape), "dtype": str(data.array.dtype),
            "axes": axes, "axes_stated": stated, "axes_note": note,
            "pixel_size_um": dict(data.pixel_size), **extras,
            "microdeblur": data.metadata.get("microdeblur")}


def _short(sha) -> str:
    return f" (sha256 {sha[:12]})" if isinstance(sha, str) and sha else ""


def _run_line(record: dict) -> str:
    """'method, weights NAME (sha256 ...), PSF ... (sha256 ...), iterations 30' of a record."""
    method = record.get("method") or ("one method per channel"
                                      if isinstance(record.get("channels"), list)
                                      else "method not recorded")
    parts = [str(method)]
    if record.get("weights_sha256") or record.get("weights_source"):
        name = record.get("weights_source") or record.get("arch") or "file"
        parts.append(f"weights {name}{_short(record.get('weights_sha256'))}")
    spec = record.get("method_spec") if isinstance(record.get("method_spec"), dict) else {}
    # as it ran ('auto' cut a deeper 3D model to the stack's nz=), and as asked where not so
    psf = ran_psf(record) or spec.get("psf")  # a layer saved by an older version: its spec's
    if psf:
        found = " (estimated from the image)" if record.get("psf_estimated") else ""
        parts.append(f"PSF {psf}{found}{asked_words(record)}{_short(record.get('psf_sha256'))}")
    found = record.get("parameters")
    found = found if isinstance(found, dict) else {}  # a record edited by hand: still shown
    if isinstance(record.get("channels"), list):  # a dock's record keeps channel 1's on top
        found = {}  # each channel's line gives its own
    return ", ".join(parts + _parameter_words(found))


def _parameter_words(found: dict) -> list[str]:
    """'iterations 30', 'noise scale 0.5 (...)' of a record's parameters: the noise scale as
    it ran, the one given times the one the weights' fine-tuning calibrated (the record keeps
    both; 'noise scale 1' was printed where 0.5 ran)."""
    words = [f"{k.replace('_', ' ')} {_value(found[k])}" for k in PARAMETERS
             if found.get(k) not in (None, 0.0)]
    # core.psf_aware.CALIBRATED_NOISE_SCALE_KEY (that module imports torch)
    given, calibrated = found.get("noise_scale", 1.0), found.get("calibrated_noise_scale")
    number = (int, float)
    if isinstance(calibrated, number) and calibrated != 1 and isinstance(given, number):
        words = [w for w in words if not w.startswith("noise scale ")]
        start = "" if given == 1 else f"{_value(float(given))} given x {_value(calibrated)} "
        words.append(f"noise scale {_value(float(given * calibrated))} ({start}calibrated "
                     "when the weights were fine-tuned)")
    return words


def _value(v) -> str:
    """4 significant digits ('balance 3.981e-05', not 3.9810717055349695e-05); --json keeps
    the full value."""
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _ran_line(record: dict) -> str:
    """'on cpu (CPU NAME), bfloat16, tile (96, 96), overlap (0, 0), window cosine': where and
    how a record's run ran (what --json has); '' where a record names none of it."""
    device = record.get("device")
    parts = [f"on {device}" + (f" ({record['device_name']})" if record.get("device_name")
                               else "") if device else None,
             record.get("precision")]
    for key in ("tile", "overlap"):
        if isinstance(record.get(key), list) and record[key]:
            parts.append(f"{key} ({', '.join(map(str, record[key]))})")
    if record.get("window"):
        parts.append(f"window {record['window']}")
    return ", ".join(str(p) for p in parts if p)


def _threshold_from(origin) -> str:
    """Where a watch's threshold came from, in a few words (``cli_watch_calibration``); a
    string (a Focus dock's words) as it is."""
    if isinstance(origin, str) and origin:
        return origin
    if not isinstance(origin, dict):
        return "an unrecorded origin"
    if origin.get("option") != "--calibrate":
        return str(origin.get("option", "an unrecorded option"))
    images = f"{origin.get('images', '?')} good images in {origin.get('folder', '?')}"
    percentile = f"percentile {_value(origin.get('percentile'))}"
    if origin.get("bad_folder"):
        return (f"--calibrate, between {percentile} of {images} and "
                f"{origin.get('bad_images', '?')} soft images in {origin['bad_folder']}")
    margin = f"{_value(origin['margin'])} x " if "margin" in origin else ""
    return f"--calibrate, {margin}{percentile} of {images}"


MAX_LISTED = 20  # units named on a selective record's line; --json has them all


def _selection_line(focus: dict) -> str:
    """What a selective deblur (the Focus dock, ``core.selective``) deblurred: its ``focus``
    record (mode, score_axes, threshold, units, deblurred, selected) in one line."""
    tiles = focus.get("mode") == "tiles"
    if _one_image(focus):
        return _one_image_line(focus)
    size = f" of {focus['focus_tile']} px" if tiles and focus.get("focus_tile") else ""
    names = [{"y": "tile row", "x": "tile column"}.get(a, a)
             for a in str(focus.get("score_axes") or "")]
    where = f" ({', '.join(names)})" if names else ""
    line = (f"  focus: threshold {_value(focus.get('threshold'))} (from "
            f"{_threshold_from(focus.get('threshold_from'))}{_offset_said(focus)}); "
            f"{focus.get('deblurred', '?')} of {focus.get('units', '?')} "
            f"{'tile' if tiles else 'slice'}{'' if focus.get('units') == 1 else 's'}"
            f"{size}{where} below it deblurred")
    selected = focus.get("selected") if isinstance(focus.get("selected"), list) else []
    shown = [", ".join(map(str, u)) if isinstance(u, list) and len(u) == 1
             else f"({', '.join(map(str, u))})" if isinstance(u, list) else str(u)
             for u in selected[:MAX_LISTED]]
    if shown:
        more = f", ... ({len(selected) - MAX_LISTED} more)" if len(selected) > MAX_LISTED else ""
        line += f": {', '.join(shown)}{more}"
    if focus.get("background"):
        line += f"; {focus['background']} blank or background-only left out"
    return line


def _one_image(focus: dict) -> bool:
    """Whether a selective record scored one image whole (a single plane, slices mode):
    '1 of 1 slices ... ()' was said of it."""
    return (focus.get("mode") != "tiles" and not focus.get("score_axes")
            and focus.get("units") == 1)


def _one_image_line(focus: dict) -> str:
    """A single plane's focus line: its score against the threshold, and what was done."""
    score = focus.get("score")
    if focus.get("no_structure"):
        scored = "the image has no structure (blank or background only)"
    else:
        below = "below" if focus.get("deblurred") else "not below"
        scored = (f"the image scored {_value(score)}, {below} it" if score is not None
                  else f"the image was {below} it")
    done = "deblurred" if focus.get("deblurred") else "written unchanged"
    return (f"  focus: threshold {_value(focus.get('threshold'))} (from "
            f"{_threshold_from(focus.get('threshold_from'))}{_offset_said(focus)}); "
            f"{scored}: {done}")


def _offset_said(focus: dict) -> str:
    """', camera offset 100' where the scores were made less a dark level: the threshold
    holds for that offset only (a rerun without it deblurred other units)."""
    offset = focus.get("camera_offset")
    return f", camera offset {_value(offset)}" if offset else ""


def _settled_lines(focus: dict) -> list[str]:
    """What each deblurred plane settled for itself (``focus.settled``: an estimated PSF, 'auto'
    iterations or balance), as the run's line said it; nothing where all was given."""
    from .core.selective import settings_words

    entries = [e for e in focus.get("settled") or [] if isinstance(e, dict) and e.get("found")]
    said = [settings_words({k: e.get(k) for k in e["found"]}) for e in entries[:MAX_LISTED]]
    if said and _one_image(focus):  # 'per deblurred plane: the image: ...' of one image
        return [f"  settings found on the image: {said[0]}"]
    shown = [f"{e.get('from', '?')}: {words}" for e, words in zip(entries, said)]
    more = f"; ... ({len(entries) - MAX_LISTED} more)" if len(entries) > MAX_LISTED else ""
    return [f"  settings found per deblurred plane: {'; '.join(shown)}{more}"] if shown else []


def _focus_lines(focus: dict) -> list[str]:
    """Why `microdeblur watch` deblurred the file, or what a selective deblur (the Focus
    dock) did: its ``focus`` record in a line or two."""
    if "mode" in focus:  # the dock's record: no 'score' or 'decision', units and a threshold
        return [_selection_line(focus), *_settled_lines(focus)]
    score, threshold = focus.get("score"), focus.get("threshold")
    line = (f"  focus: score {_value(score)}, threshold {_value(threshold)} (from "
            f"{_threshold_from(focus.get('threshold_from'))})")
    if focus.get("camera_offset"):
        line += f", camera offset {_value(focus['camera_offset'])}"
    planes = focus.get("planes") if isinstance(focus.get("planes"), dict) else {}
    if planes:
        line += (f"; {planes.get('soft_count', '?')} of {planes.get('count', '?')} planes "
                 f"({planes.get('axes', '?')}) soft")
    lines = [f"{line}: {focus.get('decision', 'decision not recorded')}"]
    if focus.get("unlike_calibration"):
        lines.append("  unlike the calibration images: "
                     + "; ".join(map(str, focus["unlike_calibration"])))
    return lines


def text_block(info: dict) -> str:
    """The few lines ``info`` prints for one file, control characters in the file's own text
    escaped (a card's description or a record's device name cleared the terminal)."""
    from .core.card_checks import shown_values

    return _block(shown_values(info))


def _block(info: dict) -> str:
    from .cli_info_weights import card_lines, state_dict_lines, weights_lines
    from .core.zarr_metadata import position_lines

    if "state_dict" in info or "training_checkpoint" in info:  # what a .pt or run folder holds
        return "\n".join(state_dict_lines(info))
    if "model_card" in info:
        return "\n".join(card_lines(info) + weights_lines(info))
    how = "stated by the file" if info["axes_stated"] else "guessed"
    lines = [f"{info['file']}:",  # as typed, as deblur's lines name their files
             f"  shape {tuple(info['shape'])} {info['dtype']}, axes {info['axes'] or 'none'} "
             f"({how})"]
    if info["axes_note"]:
        lines.append(f"  {info['axes_note']}")
    sizes = sorted(info["pixel_size_um"].items(), key=lambda item: "TZYX".find(item[0]))
    lines.append("  pixel size: " + (", ".join(f"{a} {v:g}" for a, v in sizes) + " um"
                                     if sizes else "not stated"))
    if info.get("channel_names"):
        lines.append("  channels: " + ", ".join(map(str, info["channel_names"])))
    if info.get("time_interval") is not None:
        lines.append(f"  time interval: {info['time_interval']:g} s")
    lines += position_lines(info)  # an OME-Zarr's translation: where napari places the image
    if info.get("luts"):
        lines.append("  channel colours (ImageJ LUTs): " + ", ".join(info["luts"]))
    if not (record := info["microdeblur"]):
        return "\n".join([*lines, "  deblur record: none"])
    if is_psf_record(record):  # a PSF microdeblur wrote (cli_info_psf), not a result
        return "\n".join([*lines, *psf_lines(record)])
    if is_degradation_record(record):  # a test input `degrade` made, not a deblur
        return "\n".join([*lines, *degradation_lines(record)])
    # a --focus-below output with no unit below its threshold: written unchanged
    done = (f"unchanged: {record['unchanged']}" if isinstance(record.get("unchanged"), str)
            else f"deblurred: {_run_line(record)}")
    # a dock's current slice or field of view: 'made from plane Z=3 of stack.tif (current slice)'
    lines += [f"  {done}", f"  made {made_words(record, part_words(info, record))}"]
    if ran := _ran_line(record):
        lines.append(f"  ran {ran}")
    if isinstance(record.get("focus"), dict):  # made by `microdeblur watch` or the Focus dock
        lines += _focus_lines(record["focus"])
    runs = record.get("channels") if isinstance(record.get("channels"), list) else []
    # numbered from 1, as deblur's lines and the docks number channels
    lines += [f"  channel {i}: {_run_line(r)}" for i, r in enumerate(runs, 1)
              if isinstance(r, dict)]
    if is_degradation_record(previous := record.get("previous")):
        said = (line.strip() for line in degradation_lines(previous))
        lines.append("  previous: " + "; ".join(said))
    elif isinstance(previous, dict):
        lines.append(f"  previous: {_run_line(previous)}; {made_words(previous)}")
    return "\n".join(lines)


def _one_number(key: str, values, record: dict, info: dict) -> int | None:
    """--tile or --overlap as one number that gives the run's per-axis ``values`` again:
    their largest, where each smaller one is that number cut by the image (a tile to an
    axis's length, an overlap to its tile's - 1); else None (the option cannot say it)."""
    if not isinstance(values, list) or not values:
        return None
    axes, shape = str(record.get("axes") or info.get("axes") or ""), info.get("shape") or []
    sizes = [shape[axes.index(a)] for a in "ZYX" if a in axes and len(axes) == len(shape)]
    largest = max(values)
    if key == "tile":
        bounds = sizes[-len(values):] if len(sizes) >= len(values) else [None] * len(values)
        fits = all(v == largest or (b is not None and v >= b) for v, b in zip(values, bounds))
    else:
        tiles = record.get("tile") if isinstance(record.get("tile"), list) else []
        fits = all(v == largest or (len(tiles) == len(values) and v == t - 1)
                   for v, t in zip(values, tiles + [None] * len(values)))
    return int(largest) if fits else None


def _focus_words(focus) -> list[str]:
    """--focus-below (and --focus-unit, --focus-tile) of a selective run's ``focus``: the
    threshold that ran in full; one per channel: auto (the same thresholds on the same
    input; the record keeps them to 6 digits)."""
    if not isinstance(focus, dict) or "mode" not in focus:
        return []  # no focus record, or a watch's: the whole file was deblurred
    threshold = focus.get("threshold")
    words = ["--focus-below", "auto" if isinstance(threshold, list) else repr(float(threshold))]
    if focus.get("mode") == "tiles":
        words += ["--focus-unit", "tile", "--focus-tile", str(focus.get("focus_tile"))]
    return words


def rerun_command(info: dict) -> str:
    """The `microdeblur deblur IN -o OUT ...` command that remakes the file ``info``
    describes (``describe``) from its input: every value that ran (method, weights, the PSF
    as it ran, an estimated one's model string included, iterations, balance in full, noise
    scale, image type, precision, tile, overlap, window, device, axes, output dtype, the focus
    threshold of a selective run). Run where the input and the files it names are. A value
    the options cannot say (a PSF array, per-axis tiles no one number gives, a selective
    run's tiles of its --focus-unit tile crops) is left to its default; ValueError where the
    file holds no record of a run."""
    import shlex

    name = Path(info["file"]).name
    record = info.get("microdeblur")
    if is_psf_record(record):
        return psf_command(info)[0]  # a PSF microdeblur wrote: the psf-... command
    spec = record.get("method_spec") if isinstance(record, dict) else None
    if not (isinstance(spec, dict) and record.get("source_file")):
        raise ValueError(f"{name} holds no record of a deblur naming its input and method: "
                         "no command remakes it (give an output of microdeblur deblur, "
                         "psf-from-beads, psf-from-weights or psf-estimate)")
    if record.get("psf") == "array":
        raise ValueError(f"{name} was deblurred with a PSF array (napari layer), which no "
                         "option gives: save the PSF as a .tif and deblur with --psf FILE")
    if refusal := one_channel_refusal(info, record, describe):
        raise ValueError(refusal)
    words = ["microdeblur", "deblur", command_path(record["source_file"]), "-o",
             command_path(rerun_path(info["file"]))]
    found = record.get("parameters") if isinstance(record.get("parameters"), dict) else {}
    focus = record.get("focus") if isinstance(record.get("focus"), dict) else {}
    method = record.get("method") or spec.get("name")
    options = {
        "--weights": spec.get("weights"),
        "--method": method if not spec.get("weights") or spec.get("name") != "auto" else None,
        "--modality": spec.get("modality"), "--psf": ran_psf(record),
        "--iterations": found.get("iterations"),
        "--balance": repr(found["balance"]) if isinstance(found.get("balance"), float) else None,
        "--tv-weight": repr(found["tv_weight"]) if found.get("tv_weight") else None,
        "--noise-scale": repr(float(spec.get("noise_scale") or 1.0)),
        "--precision": record.get("precision") or spec.get("precision"),
        "--window": record.get("window"), "--device": record.get("device"),
        "--axes": record.get("axes"),
        "--output-dtype": _output_dtype_word(record, info["file"]),
    }
    for key in _unread(options):  # an older version recorded them: today they are refused
        options[f"--{key.replace('_', '-')}"] = None
    if focus.get("mode") != "tiles":  # a --focus-unit tile run records its focus tiles
        options["--tile"] = _one_number("tile", record.get("tile"), record, info)
        options["--overlap"] = _one_number("overlap", record.get("overlap"), record, info)
    for flag, value in options.items():
        if value is not None and value != "":
            words += [flag, str(value)]
    return shlex.join(words + _focus_words(focus))


def _output_dtype_word(record: dict, path) -> str | None:
    """--output-dtype of a rerun of the output at ``path``: None (left out) for a .png, which
    holds the input's 8 or 16 bits whatever is asked, and whose record said float32 (the
    type it ran in) before this version: --output-dtype float32 is refused for a .png."""
    if str(path).lower().endswith(".png"):
        return None
    return "float32" if record.get("output_dtype") == "float32" else "input"


def _unread(options: dict) -> list[str]:
    """The settings among a rerun's ``options`` that its method does not read
    (``inference_settings.unused``): outputs of versions that recorded them, e.g. the image
    type beside a named network."""
    from types import SimpleNamespace

    from .core.inference_settings import DEFAULTS, unused

    given = {k: options.get(f"--{k.replace('_', '-')}") for k in DEFAULTS}
    probe = SimpleNamespace(name=options.get("--method") or "auto", psf=options.get("--psf"),
                            **{k: DEFAULTS[k] if v is None else v for k, v in given.items()})
    if probe.tv_weight != DEFAULTS["tv_weight"]:
        probe.tv_weight = float(probe.tv_weight)
    return unused(probe)


def _expanded(files: list[str]) -> list[str]:
    """Each argument as ``deblur`` takes it (``cli_focus.expanded``): a folder's images, a
    quoted glob's matches but folders, else the path itself (a missing file is reported by
    ``describe``, with the others; a folder of .mrc files only by its listing's error, which
    names them: read as an image it said 'is a directory')."""
    return expanded_with_runs(files)  # a run's --checkpoint-dir kept: info says what it is


def cmd_info(args) -> int:
    from .cli_progress import RepeatedNotes, files_said, stopped_code

    found, paths = [], []
    try:
        paths = _expanded(args.files)
        with RepeatedNotes():  # a folder of 72-dpi files: that line once, then a count
            for path in paths:
                found.append(_described(path, args))
    except KeyboardInterrupt as stop:  # cli.main's line said 'no partial output was left'
        if args.json and (found or len(paths) > 1):  # those described before it, as a list
            _print_json(found, several=len(paths) > 1)  # of them: --json printed nothing
        outcome = "info writes no file"
        if len(paths) > 1:
            outcome = files_said(len(found), len(paths), "info", "described")
        return stopped_code(stop, outcome)
    if args.json:  # one object, or a list of one a line (a million files: grep, jq)
        _print_json(found, several=len(found) > 1)
    return EXIT_ERROR if any("error" in info for info in found) else 0


def _print_json(found: list[dict], several: bool) -> None:
    """One object, or a list of one a line (``[]``: none described before a Ctrl-C)."""
    lines = [json.dumps(info, default=str) for info in found]
    print(("[\n" + ",\n".join(lines) + "\n]" if lines else "[]") if several else lines[0],
          flush=True)


def _described(path: str, args) -> dict:
    """One file's --json object, its block (or --command) printed, or its error line."""
    from .cli_focus import readable
    from .cli_words import error_words

    try:
        info = describe(readable(path))
    except (ValueError, TypeError, OSError, RuntimeError) as error:  # as deblur's batches
        why = first_line(error_words(error, args))
        if shown_path(path) not in why and str(path) not in why:  # io's messages name it
            why = f"{shown_path(path)}: {why}"
        print(f"microdeblur: error: {shown_text(why)}", file=sys.stderr, flush=True)
        info = {"file": path, "error": why}
    if args.command and "error" not in info:
        try:
            info["command"] = rerun_command(info)
            say_command_note(info)
            say_part_note(info)
        except ValueError as error:
            print(f"microdeblur: error: {shown_text(error)}", file=sys.stderr, flush=True)
            info = {"file": path, "error": str(error)}
    if not args.json and "error" not in info:  # --command: the command only
        print(shown_text(info["command"]) if args.command else text_block(info), flush=True)
    return info


def add_info_command(sub) -> None:
    p = sub.add_parser("info", help="shape, axes, pixel sizes and how a file was made "
                       "(the deblur record of an output), without reading its pixels")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="images (.tif, .ome.tif, .zarr, .png; other formats with [formats]), "
                   "folders of images or quoted globs, as deblur takes them; weights as --weights "
                   "takes them (.safetensors, a bundled name, a Zoo .zip, a .pt/.pth state "
                   "dict): the model card, or what a state dict holds")
    p.add_argument("--json", action="store_true", help="one JSON object per file (a list "
                   "for several, one a line), with the whole record")
    p.add_argument("--command", action="store_true", help="print the `microdeblur deblur` "
                   "command that remakes each deblurred FILE from its input (the values that "
                   "ran: method, PSF, iterations, balance, precision, tiling, ...), or the "
                   "psf-from-beads, psf-from-weights or psf-estimate command of a PSF they "
                   "wrote; run it in "
                   "the folder that holds the input (and the PSF or weights files it names): "
                   "a deblur command writes FILE_rerun beside FILE; for a Deblur dock result "
                   "of one plane or crop, a note on stderr says it remakes the whole input")
    p.set_defaults(func=cmd_info)
