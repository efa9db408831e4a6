"""Reading and pairing the images of `microdeblur train` and `finetune` (cli_training):
--sharp/--blurry files split into planes, paired, checked, and split for validation."""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cli import UserError
from .core.shown import shown_path


def read_images(spec: str, axes: str | None) -> list[tuple[str, np.ndarray, str]]:
    from .core import io
    from .core.axes import to_order
    from .core.files import find_inputs, image_axes

    refuse_c_and_s(axes)
    images = []
    for path in find_inputs(spec):
        data = io.read_image(path, lazy=False)
        array, ax = np.asarray(data.array), image_axes(data, axes)
        if "S" in ax and not ax.endswith("S"):  # planar RGB (SYX): samples last, as RGB is read
            order = ax.replace("S", "") + "S"
            array, ax = to_order(array, ax, order), order
        images.append((path.name, array, ax))
    return images


def refuse_c_and_s(axes: str | None) -> None:
    """--axes naming both C and S (CARE's SCYX), refused saying what S is here (colour
    samples) and what CARE's is (our Z or T), before any file is read."""
    from .core.sample_axis import both_c_and_s

    if refusal := both_c_and_s(axes):
        raise ValueError(refusal)


def one_kind(images: list[tuple[str, np.ndarray, str]], option: str) -> bool:
    """Whether the images are RGB; ``UserError`` for a mix of RGB and single-channel."""
    rgb = [name for name, _, axes in images if axes.endswith("S")]
    gray = [name for name, _, axes in images if not axes.endswith("S")]
    if rgb and gray:
        raise UserError(f"{option} mixes RGB images ({rgb[0]}, ...) with single-channel ones "
                        f"({gray[0]}, ...); train one kind at a time")
    return bool(rgb)


def planes_of(images: list[tuple[str, np.ndarray, str]], option: str):
    """([(plane names, planes)] per image, plane axes) of images that may differ in axes (a
    YX PNG next to a ZYX stack): each split into planes by its own axes, as SyntheticData
    splits one image; ``UserError`` for two files whose planes differ in channels."""
    from .core.axes import stack_planes

    split, first = [], None
    for name, array, axes in images:
        stack, _, plane_axes = stack_planes(array, axes)
        kind = (plane_axes, stack.shape[1:-2])  # e.g. ('YX', ()) or ('CYX', (2,))
        first = first or (name, axes, kind)
        if kind != first[2]:
            raise UserError(f"{option} {first[0]} has axes {first[1]} but {name} has {axes}: "
                            "their planes differ in channels; train on one kind at a time")
        names = [name] if len(stack) == 1 else [f"{name}:{j}" for j in range(len(stack))]
        split.append((names, list(stack)))
    return split, first[2][0]


def held_out_files(n_files: int, args) -> list[int] | None:
    """The indices of the whole files held out for validation, when there are two files or
    more: planes of one z-stack share their structure (and a stack paired with its in-focus
    plane, its target), so a neighbouring plane in training made validation blind to
    memorising the stack. None (planes are drawn) for a single file."""
    if n_files < 2:
        return None
    k = min(n_files - 1, max(1, round(args.val_fraction * n_files)))
    return sorted(int(i) for i in np.random.default_rng(0).choice(n_files, size=k,
                                                                    replace=False))


#: held-out names listed in full up to this many (the lines and the card)
NAMES_LISTED = 6


def listed(names) -> str:
    """'a, b, c' or 'a, ..., f and 6 more'."""
    names = list(names)
    more = len(names) - NAMES_LISTED
    return ", ".join(names[:NAMES_LISTED]) + (f" and {more} more" if more > 0 else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _images_words(spec: str, n_files: int, n_planes: int) -> str:
    """An image option's absolute path (a folder, file or glob, as typed but absolute: the card
    said 'sharp/', of no use once the model left the folder) and how many files and planes."""
    planes = f", {_count(n_planes, 'plane')}" if n_planes != n_files else ""
    return f"{_absolute(spec)} ({_count(n_files, 'file')}{planes})"


def _absolute(spec) -> str:
    """An image option's path(s) made absolute, a glob's pattern kept."""
    return ", ".join(os.path.abspath(s) for s in ([spec] if isinstance(spec, str) else spec))


@dataclass(frozen=True)
class TrainingSplit:
    """What `train` trains and validates on: the training source, the validation pairs, the
    degradation (for the card), ``validated_on``: what validation is on, in words (the closing
    line and the card say it) and ``note``: the line said before training ('' where a note
    was printed already)."""

    train: object
    val: list
    degradation: str
    validated_on: str
    note: str = ""


def training_pairs(args, sharp, blurry):
    """(train, val, degradation) from --blurry/--sharp pairs or synthetic blur of --sharp."""
    split = split_training(args, sharp, blurry)
    return split.train, split.val, split.degradation


def split_training(args, sharp, blurry, divisor: int = 1) -> TrainingSplit:
    """--blurry/--sharp pairs or synthetic blur of --sharp, split for validation (``divisor``:
    the network's size divisor, the narrowest band a single image can hold out)."""
    if blurry is not None:
        return _paired_split(args, sharp, blurry)
    return _synthetic_split(args, sharp, divisor)


def _paired_split(args, sharp, blurry) -> TrainingSplit:
    from .core import data
    from .core.files import find_inputs

    sharp_spec = args.sharp or args.unpaired_sharp
    with warnings.catch_warnings():  # files a folder left out: said when it was read
        warnings.simplefilter("ignore")
        try:
            files_given = list(zip(find_inputs(args.blurry), find_inputs(sharp_spec)))
        except (OSError, TypeError, ValueError):  # images given as arrays: pixels checked
            files_given = []
    # the same files as blurry and sharp, named as given (their pixels: check_same_field)
    refuse_same_files(args.blurry, sharp_spec, files_given)
    pairs, files = [], []
    for (bn, b, axes), (sn, s, s_axes) in zip(blurry, sharp, strict=True):
        s = check_same_field(bn, axes, b, sn, s_axes, s, planes_held_out=len(blurry) < 2)
        made = data.pairs_from_arrays(b, s, axes=axes, name=f"{bn}~{sn}")
        pairs += made
        files.append([p.group for p in made])
    if len(pairs) < 2:  # split_validation's own error named itself and no option
        raise UserError("--blurry and --sharp give one pair of one plane; train holds out "
                        "whole images or planes for validation: give two or more pairs "
                        "(or microdeblur finetune, which holds out a band of one pair)")
    picked = held_out_files(len(files), args)
    train_pairs, val = data.split_validation(
        pairs, val_fraction=args.val_fraction, seed=0,
        val_groups=None if picked is None else [g for i in picked for g in files[i]])
    if picked is None:  # one stack: its planes drawn
        planes = [p.group.split(":", 1)[1] for p in val]
        held = (f"{len(val)} of {len(pairs)} planes of --blurry {blurry[0][0]} held out "
                f"(plane {listed(planes)})")
    else:
        held = (f"{len(picked)} of {len(files)} pairs held out (--blurry "
                f"{listed(blurry[i][0] for i in picked)})")
    train = data.PairedData(train_pairs, description=(
        f"pairs {_images_words(args.blurry, len(files), len(pairs))} ~ "
        f"{_absolute(sharp_spec)}"))
    return TrainingSplit(train, val, "real pairs", held, f"validation: {held}")


def _band(name: str, plane: np.ndarray, args, divisor: int):
    """(training part, held-out band, words) of one image's only plane, cut as finetune holds
    out a band of one pair (``core.pair_checks.check_band_fits``); None where the plane has no
    room for the band, the gap and a --patch of training, or either part is constant."""
    from .core.pair_checks import BAND_GAP, check_band_fits

    if min(plane.shape[-2:]) < args.patch:
        return None
    try:
        axis, stop, start = check_band_fits(name, plane.shape[-2:], val_fraction=args.val_fraction,
                                            min_train=args.patch, min_band=max(8, divisor))
    except ValueError:
        return None
    cut = plane.ndim - 3 + axis  # axis: 1 (Y) or 2 (X) of a (C, Y, X) plane
    parts = []
    for lo, hi in ((0, stop), (start, plane.shape[cut])):
        where = [slice(None)] * plane.ndim
        where[cut] = slice(lo, hi)
        parts.append(np.ascontiguousarray(plane[tuple(where)]))
    if any(float(np.ptp(part)) == 0 for part in parts):
        return None
    letter = "YX"[axis - 1]
    return (*parts, f"a band of {name} held out ({letter} {start}-{plane.shape[cut]}, the last "
                    f"{args.val_fraction:.0%} along {letter}; {BAND_GAP} px gap)")


def _synthetic_split(args, sharp, divisor: int) -> TrainingSplit:
    """Synthetic blur of --sharp, held out as whole files (two or more), planes of a single
    z-stack or a band of a single 2D image (one image validated on itself, and the closing
    line and card read as a held-out score); on the image itself only where none of these
    fits, said in the note, the card and the closing line."""
    from .core import data

    option = "--sharp" if args.sharp else "--unpaired-sharp"
    # each file split into planes by its own axes (the first file's did not fit a z-stack)
    split, axes = planes_of(sharp, option)
    named = [[*zip(names, planes, strict=True)] for names, planes in split]
    # psf_cyclegan's cycle learns on the whole of its one image: planes or a band held out
    # here would be trained on all the same (cli_regimes.hold_out_validation says so)
    whole = getattr(args, "regime", None) == "psf_cyclegan"
    note = ""
    if len(split) > 1:  # whole files, the first ones in sorted order
        n_val = min(max(int(round(len(split) * args.val_fraction)), 1), len(split) - 1)
        trained = [p for ps in named[n_val:] for p in ps]
        held_planes = [p for ps in named[:n_val] for p in ps]
        held = (f"{n_val} of {len(split)} files held out "
                f"({listed(name for name, _, _ in sharp[:n_val])})")
    elif len(named[0]) > 1 and not whole:  # one z-stack: planes drawn, as one paired stack
        trained, held_planes = data.split_validation(named[0], val_fraction=args.val_fraction,
                                                     seed=0)
        held = (f"{len(held_planes)} of {len(named[0])} planes of {sharp[0][0]} held out "
                f"(plane {listed(n.rsplit(':', 1)[1] for n, _ in held_planes)})")
    elif not whole and (band := _band(*named[0][0], args, divisor)) is not None:
        trained, held_planes = [(named[0][0][0], band[0])], [(named[0][0][0], band[1])]
        held = band[2]
    else:
        trained = held_planes = named[0]
        why = ("psf_cyclegan trains on all of it" if whole else
               f"too small to hold out a band beside --patch {args.patch} of training")
        held = f"the training image {sharp[0][0]} itself (validated on the training image: {why})"
        print(f"note: one image only, {why}: validated on the training image", file=sys.stderr)
    if held_planes is not trained:
        note = f"validation: {held}"
    degradation = synthetic_degradation(args)
    spec = args.sharp or args.unpaired_sharp
    images = _images_words(spec, len(split), sum(map(len, named)))
    train = data.SyntheticData([p for _, p in trained], degradation, axes=axes,
                               names=[n for n, _ in trained], seed=args.seed,
                               description=f"sharp images {images}")
    val = []
    for protocol in ("ABC" if degradation == "mix" else degradation):
        val += data.SyntheticData([p for _, p in held_planes], protocol, axes=axes,
                                  seed=args.seed).validation_pairs()
    return TrainingSplit(train, val, degradation, held, note)


#: train's --degradation when not given: the mix of protocols A, B and C
DEFAULT_DEGRADATION = "mix"


def synthetic_degradation(args) -> str:
    """The synthetic blur of --sharp alone: --degradation, or ``DEFAULT_DEGRADATION`` (its
    default is None, so that one given with --blurry pairs, which it does not apply to, is
    refused: ``check_degradation``)."""
    return getattr(args, "degradation", None) or DEFAULT_DEGRADATION


def check_degradation(args) -> None:
    """--degradation with --blurry pairs was taken and not used (the pairs' blur is their own):
    refused in one line, before any image is read."""
    if args.degradation is not None and args.blurry:
        raise UserError(f"--degradation {args.degradation}: the synthetic blur of --sharp "
                        "alone; --blurry pairs bring their own blur: leave out --degradation")


def focus_plane(args) -> int | str:
    """finetune's --focus-plane: 'auto' or a plane index, for --stack only (its default None
    is auto); given with --blurry/--sharp pairs it was taken and not used: refused."""
    given = args.focus_plane
    if given is not None and not args.stack and (args.blurry or args.sharp):
        raise UserError(f"--focus-plane {given}: for --stack only (it picks each z-stack's "
                        "in-focus plane); --blurry pairs have --sharp as their target: leave "
                        "out --focus-plane")
    if given is None or given == "auto":
        return "auto"
    try:
        return int(given)
    except ValueError:
        raise UserError(f"--focus-plane {given!r}: give auto or a plane index") from None


def read_training_images(args):
    """(sharp, blurry or None, RGB?) of --sharp (psf_cyclegan: else --unpaired-sharp) and
    --blurry, checked to pair up."""
    if not (args.sharp or args.regime == "psf_cyclegan"):
        raise UserError(f"--regime {args.regime} needs --sharp IMAGES")
    sharp_option = "--sharp" if args.sharp else "--unpaired-sharp"
    sharp = read_images(args.sharp or args.unpaired_sharp, args.axes)
    rgb = one_kind(sharp, sharp_option)
    blurry = read_images(args.blurry, args.axes) if args.blurry else None
    if blurry is not None:
        if len(blurry) != len(sharp):
            raise UserError(f"--blurry gives {len(blurry)} images but {sharp_option} "
                            f"{len(sharp)}: they pair up in sorted order")
        if one_kind(blurry, "--blurry") != rgb:
            raise UserError(f"--blurry and {sharp_option} differ in kind (RGB against "
                            "single-channel)")
    return sharp, blurry, rgb


def pair_files(blurry: list[str], sharp: list[str]) -> list[tuple[Path, Path]]:
    """--blurry and --sharp (each given once or more: files, folders or quoted globs) paired
    in the order given, each expanded in sorted order."""
    from .core.files import find_inputs

    b = [p for spec in blurry for p in find_inputs(spec)]
    s = [p for spec in sharp for p in find_inputs(spec)]
    if len(b) != len(s):
        raise UserError(f"--blurry gives {len(b)} image(s) but --sharp {len(s)}: they pair "
                        "up one to one in sorted order")
    refuse_same_files(" ".join(blurry), " ".join(sharp), zip(b, s))
    return list(zip(b, s, strict=True))


#: what a pair of one image with itself does, in the command line's words
SAME_IMAGE = ("trained on them, the network learns to change nothing; give the blurry images "
              "to --blurry and their sharp (in-focus) counterparts to --sharp")


def refuse_same_files(blurry: str, sharp: str, paths) -> None:
    """--blurry and --sharp refused where they name the same files (``paths``: the pairs of
    files, in order; ``blurry``, ``sharp``: the options as given), before any is read."""
    from .core.same_image import same_files

    paths = list(paths)
    same = [(b, s) for b, s in paths if same_files(b, s)]
    if not same:
        return
    if len(same) == len(paths) > 1:
        raise UserError(f"--blurry {shown_path(blurry)} and --sharp {shown_path(sharp)} name "
                        f"the same files: {SAME_IMAGE}")
    b, s = same[0]
    raise UserError(f"--blurry {shown_path(b)} and --sharp {shown_path(s)} are the same file: "
                    f"{SAME_IMAGE}")


def check_same_field(b_name: str, b_axes: str, b: np.ndarray, s_name: str, s_axes: str,
                      s: np.ndarray, *, planes_held_out: bool = False) -> np.ndarray:
    """The sharp array to pair with ``b`` plane by plane: ``s``, or ``s`` repeated for every
    plane of a blurry stack when it is one plane of its field (``core.axes.repeated_target``;
    not with ``planes_held_out``: validating on planes that share the training target sees
    nothing).
    One line when they cannot be paired."""
    from .core.axes import repeated_target

    if b_axes != s_axes:
        repeated = repeated_target(s, s_axes, b.shape, b_axes)
        if repeated is not None and not planes_held_out:
            return repeated
        if repeated is not None:
            raise UserError(f"--sharp {s_name} is one in-focus plane for the {b_axes} "
                            f"stack --blurry {b_name}: microdeblur train holds out planes, "
                            "which would share its target; use microdeblur finetune --blurry "
                            f"{b_name} --sharp {s_name} (it holds out a band of every plane)")
        raise UserError(f"--blurry {b_name} has axes {b_axes} {b.shape} but --sharp {s_name} "
                        f"has {s_axes} {s.shape}; pair images of the same kind, or a stack "
                        "with one in-focus plane of its size (or give --axes)")
    for axis, nb, ns in zip(b_axes, b.shape, s.shape, strict=True):
        if nb != ns and axis in "TZ":
            raise UserError(f"--blurry {b_name} has {nb} planes along {axis} but --sharp "
                            f"{s_name} has {ns}; pair stacks with the same planes")
    if b.shape != s.shape:
        raise UserError(f"--blurry {b_name} has shape {b.shape} but --sharp {s_name} has "
                        f"{s.shape} (axes {b_axes}); pair images of the same field and size")
    from .core.same_image import same_pixels

    if same_pixels(b, s):  # copies of one image, or a folder of them given twice
        raise UserError(f"--blurry {b_name} and --sharp {s_name} have identical pixels: "
                        f"{SAME_IMAGE}")
    return s


def finetune_fields(args, sizes: list | None = None) -> list:
    """The fields of view to fine-tune on, read and checked (one line per problem); each
    file's pixel size (um per axis) is appended to ``sizes`` (for the card)."""
    from .core import io
    from .core.files import image_axes
    from .core.finetune import PairField, StackField

    def read(path: Path) -> tuple[np.ndarray, str]:
        image = io.read_image(path, lazy=False)
        if sizes is not None:
            sizes.append(image.pixel_size)
        return np.asarray(image.array), image_axes(image, args.axes)

    refuse_c_and_s(args.axes)
    if bool(args.stack) == bool(args.blurry or args.sharp):
        raise UserError(
            "give either --stack Z.tif or both --blurry B.tif and --sharp S.tif" if args.stack
            else "give the images to fine-tune on: either --stack Z.tif (a z-stack through focus), "
            "both --blurry B.tif and --sharp S.tif, or --self IMG --psf PSF (no reference: "
            "adapts to IMG given its PSF)")
    if not args.stack and not (args.blurry and args.sharp):
        raise UserError("--blurry and --sharp go together")
    focus = focus_plane(args)  # 'auto' or an index; refused with pairs
    if args.stack:
        from .core.files import find_inputs

        return [StackField(p.name, *read(p), focus, args.target_neighbours)
                for spec in args.stack for p in find_inputs(spec)]
    fields = []
    for bp, sp in pair_files(args.blurry, args.sharp):
        (b, b_axes), (s, s_axes) = read(bp), read(sp)
        # a separately recorded in-focus image pairs with every plane of a blurry stack
        s = check_same_field(bp.name, b_axes, b, sp.name, s_axes, s)
        fields.append(PairField(f"{bp.name}~{sp.name}", b, s, b_axes))
    return fields


def replay_planes(specs: list[str] | None, patch: int) -> list[np.ndarray] | None:
    """The sharp images of ``--replay-images`` as (C, Y, X) planes; None when not given.
    ``UserError`` naming the option for a path that is not there, and the file for an image
    smaller than ``patch``."""
    if not specs:
        return None
    try:
        images = [image for spec in specs for image in read_images(spec, None)]
    except (FileNotFoundError, ValueError) as error:
        raise UserError(f"--replay-images: {error}") from None
    for name, array, axes in images:
        size = min(array.shape[axes.index("Y")], array.shape[axes.index("X")])
        if size < patch:
            raise UserError(f"--replay-images {name}: {size} px on its shorter side, smaller "
                            f"than --patch {patch}; give larger images or a smaller --patch")
    split, plane_axes = planes_of(images, "--replay-images")
    planes = [plane for _, stack in split for plane in stack]
    if "C" not in plane_axes and "S" not in plane_axes:
        return [plane[None] for plane in planes]
    channel = plane_axes.index("S" if "S" in plane_axes else "C")
    return [np.moveaxis(plane, channel, 0) for plane in planes]
