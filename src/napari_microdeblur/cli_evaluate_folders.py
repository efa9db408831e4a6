"""`microdeblur evaluate IN_DIR [RESULT_DIR ...] --reference REF_DIR`: folders (or quoted globs)
of results, one column each, scored file by file against the references they are named after
(``cli_evaluate.score_one``, the single-file form's scores); one line per reference, a mean per
column. Scoring a batch of deblurred test slices had needed a shell loop."""

from __future__ import annotations

import argparse
import glob
import json
import math
import sys
import unicodedata
import warnings
from pathlib import Path

from .cli import UserError
from .core.shown import shown_path

#: what deblur puts after an input's stem (``files.output_name``): a_deblurred.tif is a's result
SUFFIX = "_deblurred"


def is_batch(spec) -> bool:
    """A folder of images (not a Zarr store, one image) or a glob that names no one file."""
    from .core import io

    path = Path(spec)
    if path.is_dir():
        return not io.is_zarr(path)
    return not path.exists() and glob.has_magic(str(spec))


def _expand(spec, what: str) -> list[Path]:
    """The files of the folder or glob ``spec``; a folder's images in its subfolders, left
    out, said as deblur and focus say them (evaluate had left them out unsaid)."""
    from .core import io
    from .core.input_files import find_inputs, subfolders_left_out  # no torch: said at once

    try:
        found = find_inputs(spec)
    except (OSError, ValueError) as error:  # one line: no image, or a folder not readable
        raise UserError(f"{what}{error}") from None
    if not Path(spec).is_dir() or io.is_zarr(spec):
        return found
    glob_of = Path(str(spec)) / "**" / "*.tif"
    said = subfolders_left_out(Path(spec), "evaluate scores a folder's own files: give the "
                               "subfolder itself, or quoted globs for both --reference and "
                               f"the results, e.g. '{glob_of}'")
    if said:
        print(f"microdeblur: warning: {what}{said}", file=sys.stderr, flush=True)
    return found


def _refuse(problems: list[str], summary: str) -> None:
    """One line per problem, then the refusal (one problem: its line is the refusal)."""
    if len(problems) == 1:
        raise UserError(problems[0])
    for line in problems:
        print(f"microdeblur: error: {line}", file=sys.stderr, flush=True)
    raise UserError(summary)


def _nfc(stem: str) -> str:
    """A name as it pairs: a file copied from macOS keeps café in NFD form (e + a combining
    accent), unlike the same name typed elsewhere; the two had not paired."""
    return unicodedata.normalize("NFC", stem)


def _key(name: str, refs: dict) -> str | None:
    """The reference stem a result's stem pairs with: itself, else without deblur's suffix."""
    if name in refs:
        return name
    if name.endswith(SUFFIX) and name[: -len(SUFFIX)] in refs:
        return name[: -len(SUFFIX)]
    return None


def _no_reference(path: Path, stem: str, spec, ref_spec) -> str:
    """Why the result ``path`` (of the folder or glob ``spec``, or given alone) pairs with no
    reference of ``ref_spec``, and what to change."""
    bare = stem[: -len(SUFFIX)] if stem.endswith(SUFFIX) else stem
    if not is_batch(spec):  # one file: 'leave the file out of the file' said nothing
        return (f"{shown_path(path)} is one file but --reference {shown_path(ref_spec)} is a "
                f"folder or glob, with no file named {bare}.*: give --reference the reference "
                "file of this prediction, or give a folder (or quoted glob) of predictions, "
                "paired by name with the references")
    return (f"{shown_path(path)} has no reference in {shown_path(ref_spec)} (none named "
            f"{bare}.*); add it, or leave the file out of {shown_path(spec)} (a quoted glob "
            "picks files)")


def pair_by_name(ref_spec, refs: list[Path], specs: list, columns: list[list[Path]]):
    """({stem: reference}, [{stem: result} per column]), every result with its reference;
    ``UserError`` (one line each) for a result with none, two results (or references) of one
    name, or a reference scored in one column and missing from another (their means would be
    over other files). References no column has are returned apart: (refs, cols, unscored)."""
    from .core.files import image_stem  # the batch's output-name rule: a.ome.tif pairs as a

    by_stem, problems = {}, []
    for ref in refs:
        stem = _nfc(image_stem(ref))
        if stem in by_stem:
            problems.append(f"references {shown_path(by_stem[stem])} and {shown_path(ref)} "
                            f"share the name {stem!r}; keep one of them in --reference")
        by_stem.setdefault(stem, ref)
    paired = []
    for spec, files in zip(specs, columns):
        mine = {}
        for path in files:
            stem = _nfc(image_stem(path))
            key = _key(stem, by_stem)
            if key is None:
                problems.append(_no_reference(path, stem, spec, ref_spec))
            elif key in mine:
                problems.append(f"{shown_path(mine[key])} and {shown_path(path)} in "
                                f"{shown_path(spec)} both pair with reference "
                                f"{shown_path(by_stem[key])}; give each set its own folder "
                                f"or quoted glob (e.g. '{Path(str(spec)) / ('*' + SUFFIX)}.*')")
            else:
                mine[key] = path
        paired.append(mine)
    used = set().union(*paired)
    for stem in sorted(used):
        have = [(s, m[stem]) for s, m in zip(specs, paired) if stem in m]
        for spec, mine in zip(specs, paired):
            if stem not in mine:
                problems.append(f"{shown_path(spec)} has no file for reference "
                                f"{shown_path(by_stem[stem])} ({shown_path(have[0][1])} has "
                                "one); every column scores the same references, or its mean "
                                "is over other files: add it, or leave the others out")
    if problems:
        _refuse(problems, f"{len(problems)} problems pairing files by name (above); nothing "
                "was scored")
    unscored = [by_stem[s] for s in sorted(by_stem) if s not in used]
    return {s: by_stem[s] for s in sorted(used)}, paired, unscored


def _check_shapes(refs: dict, paired: list) -> dict:
    """Every pair's sizes, from the files' headers, before any scoring: a result of another
    size fails the whole batch at once, not after an hour of others. The files that cannot be
    read are returned ({path: error}), their pairs said not scored by ``_score_row`` (one
    truncated file had ended the batch, nothing scored)."""
    from .core import io

    problems, unread = [], {}

    def shape_of(path: Path) -> tuple | None:
        try:
            return tuple(io.read_image(path).array.shape)
        except (UserError, ValueError, OSError) as error:  # as _score_row's
            unread[path] = error
            return None

    for stem, ref in refs.items():
        if (ref_shape := shape_of(ref)) is None:
            continue
        for mine in paired:
            shape = shape_of(mine[stem])
            # only an axis order can be told apart
            if shape is not None and sorted(shape) != sorted(ref_shape):
                problems.append(f"{shown_path(mine[stem])} has shape {shape} but its "
                                f"reference {shown_path(ref)} {ref_shape}; score images of "
                                "the same field, size and planes")
    if problems:
        _refuse(problems, f"{len(problems)} results of another shape than their references "
                "(above); nothing was scored")
    return unread


def _thin_borders(args, refs: dict, unread: dict) -> dict:
    """{reference: border} for the references a --border left at its default narrows on
    (``planned_border``: an image too thin for it), from the files' headers, so that the
    table's first line says it: it had said '16-px border excluded' over a strip scored
    with 3 px."""
    if getattr(args, "border_given", True):
        return {}
    from .cli_evaluate import planned_border
    from .core import io
    from .core.files import image_axes

    narrow = {}
    for ref in refs.values():
        if ref in unread:
            continue  # said, not scored, by _score_row
        try:
            with warnings.catch_warnings():  # said when its files are scored
                warnings.simplefilter("ignore")
                data = io.read_image(ref)
                border = planned_border(args, data.array.shape, image_axes(data, args.axes))
        except (UserError, ValueError, OSError):
            continue  # as above
        if border != args.border:
            narrow[ref] = border
    return narrow


def _names(paths: list[Path]) -> str:
    """A few thin images by name, more by count."""
    return ", ".join(p.name for p in paths) if len(paths) <= 3 else f"{len(paths)} thin images"


def _border_words(border: int, narrow: dict) -> str:
    """'16-px border excluded', with the thin images scored with a narrower one."""
    by_border: dict[int, list[Path]] = {}
    for ref, thin in narrow.items():
        by_border.setdefault(thin, []).append(ref)
    return f"{border}-px border excluded" + "".join(
        f"; {thin} px on " + (f"thin {_names(refs)}" if len(refs) <= 3 else _names(refs))
        for thin, refs in sorted(by_border.items()))


def _mean(values: list, psnr: bool) -> float | None:
    """A column's mean; an infinite PSNR (a file equal to its reference) is left out, as a
    stack's identical planes are (docs/evaluation.md), infinite only when every one is; an
    SSIM is over the files that have one (None: under its window), None where none has."""
    if psnr:
        finite = [v for v in values if math.isfinite(v)]
        values = finite or values
    else:  # one thin file had made the whole column's SSIM mean n/a
        values = [v for v in values if v is not None]
        if not values:
            return None
    return sum(values) / len(values) if values else math.nan


def _column_means(labels: list[str], full: list) -> list[dict]:
    """Each column's means over the rows scored in every column; 'ssim_files': how many of
    them have an SSIM (the files its mean is over)."""
    means = []
    for i, label in enumerate(labels):
        scores = [row[i]["scored"]["scores"] for row in full]
        means.append({"column": label, "files": len(full),
                      **{k: _mean([s[k] for s in scores], k.startswith("psnr"))
                         for k in ("psnr", "ssim", "psnr_whole", "ssim_whole")},
                      # ssim_whole is None on the same files: a border leaves the window
                      "ssim_files": sum(s["ssim"] is not None for s in scores)})
    return means


def _ssim_gap_line(rows: list, full: list, means: list[dict]) -> str | None:
    """The one line under a table with an n/a SSIM: why, and what its mean is over."""
    from .core.plane_metrics import MIN_SIDE

    gaps = [ref for ref, row in rows
            if any("scored" in r and r["scored"]["scores"]["ssim"] is None for r in row)]
    if not gaps:
        return None
    line = f"SSIM: not defined below {MIN_SIDE} px (its window): n/a for {_names(gaps)}"
    if full:
        counts = [m["ssim_files"] for m in means]
        over = str(counts[0]) if len(set(counts)) == 1 else "/".join(map(str, counts))
        means_are = f"the SSIM mean{'s are' if len(means) > 1 else ' is'}"
        line += (f"; {means_are} n/a" if not any(counts) else
                 f"; {means_are} over the {over} of {len(full)} images that have one")
    return line


def _cells(scores: dict | None, width: int) -> str:
    if scores is None:
        return "not scored".rjust(width)
    psnr = f"{scores['psnr']:.2f}" if math.isfinite(scores["psnr"]) else "inf"
    ssim = "n/a" if scores["ssim"] is None else f"{scores['ssim']:.4f}"  # under its window
    return f"{psnr:>7} {ssim:>6}".rjust(width)


def _score_row(args, ref_path: Path, files: list[Path], unread: dict) -> list[dict]:
    """Each column's file against one reference: {'prediction', 'scored'} or {'prediction',
    'error'} (said on one line), --match's shift registered on the first and shared. Files
    ``_check_shapes`` could not read (``unread``) are not read again."""
    from .cli_evaluate import score_one
    from .cli_words import error_words
    from .core import io

    try:
        ref = unread.get(ref_path) or io.read_image(ref_path, lazy=False)
    except (UserError, ValueError, OSError) as error:
        ref = error
    shared, out = {}, []
    for path in files:
        one = argparse.Namespace(**{**vars(args), "prediction": path, "reference": ref_path})
        try:
            if isinstance(ref, Exception):
                raise ref
            if path in unread:
                raise unread[path]
            out.append({"prediction": path,
                        "scored": score_one(one, ref, shared, len(files) > 1,
                                            f"{shown_path(path)}: ")})
        except (UserError, ValueError, OSError) as error:
            words = error_words(error, args)
            print(f"microdeblur: error: {shown_path(path)} against {shown_path(ref_path)}: "
                  f"{words}; not scored", file=sys.stderr, flush=True)
            out.append({"prediction": path, "error": words})
    return out


def evaluate_folders(args, specs: list) -> int:
    """Score every result in ``specs`` (folders or globs, one column each) against the
    reference of its name in ``args.reference``; prints a table (or --json one object)."""
    refs = _expand(args.reference, "--reference: ")
    columns = [_expand(spec, "") for spec in specs]
    from .cli_evaluate import json_fields
    from .core.files import image_stem

    by_stem, paired, unscored = pair_by_name(args.reference, refs, specs, columns)
    for ref in unscored:  # said, not silently dropped
        print(f"microdeblur: warning: reference {shown_path(ref)} has no result named "
              f"{image_stem(ref)}.* or {image_stem(ref)}{SUFFIX}.* in "
              f"{', '.join(shown_path(s) for s in specs)}; not scored", file=sys.stderr,
              flush=True)
    unread = _check_shapes(by_stem, paired)
    narrow = _thin_borders(args, by_stem, unread)
    labels = [str(s) for s in specs]
    widths = [max(14, len(label)) for label in labels]
    name_width = max([len(p.name) for p in by_stem.values()] + [len("mean of 0000")])
    if not args.json:
        print(f"{len(by_stem)} reference{'s' * (len(by_stem) > 1)} in "
              f"{shown_path(args.reference)}, each scored "
              f"against the file of its name ({_border_words(args.border, narrow)}; PSNR in dB "
              "(mean leaves an infinite one out), each file on its reference's intensity "
              "scale; whole-image and per-slice scores: --json)"
              + (f"; --match registered each reference on its {labels[0]} file"
                 if args.match and len(specs) > 1 else ""), flush=True)
        print("".ljust(name_width) + "".join("   " + lb.ljust(w)
                                               for lb, w in zip(labels, widths)))
        print("reference".ljust(name_width) + "".join(
            "   " + f"{'PSNR':>7} {'SSIM':>6}".rjust(w) for w in widths), flush=True)
    rows = []
    for stem, ref in by_stem.items():
        row = _score_row(args, ref, [mine[stem] for mine in paired], unread)
        rows.append((ref, row))
        if not args.json:
            print(ref.name.ljust(name_width) + "".join(
                "   " + _cells(r["scored"]["scores"] if "scored" in r else None, w)
                for r, w in zip(row, widths)), flush=True)
    full = [row for _, row in rows if all("scored" in r for r in row)]
    means = _column_means(labels, full)
    failed = sum("error" in r for _, row in rows for r in row)
    if args.json:
        files = [{"reference": str(ref),
                  "results": [json_fields(r["scored"], r["prediction"]) if "scored" in r
                              else {"prediction": str(r["prediction"]), "error": r["error"]}
                              for r in row]} for ref, row in rows]
        print(json.dumps({"reference": str(args.reference), "columns": labels,
                          "border": args.border, "files": files,
                          "mean": [{k: v if not isinstance(v, float) or math.isfinite(v)
                                    else None for k, v in m.items()} for m in means],
                          "not_scored": [str(r) for r in unscored]}))
    else:
        if full:
            print(f"mean of {len(full)}".ljust(name_width) + "".join(
                "   " + _cells(m, w) for m, w in zip(means, widths)))
        gap = _ssim_gap_line(rows, full, means)
        if gap:
            print(gap)
    if failed:
        print(f"microdeblur: error: {failed} of {len(rows) * len(specs)} pairs not scored "
              f"(said above); the means are over the {len(full)} references scored in every "
              "column", file=sys.stderr)
        # none scored: 2, as `evaluate` with several predictions (its --help's exit codes)
        return 2 if failed == len(rows) * len(specs) else 1
    return 0
