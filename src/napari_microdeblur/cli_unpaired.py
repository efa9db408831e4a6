"""The kind of the image sets without partners of `microdeblur train` (--unlabelled,
--unpaired-blurry, --unpaired-sharp) against each other and the training images, each side
named by its option: a line that named one side only (and the same side both ways round), or
the core's ``unpaired=``, told the user nothing to change."""

from __future__ import annotations

import numpy as np

from .cli import UserError


def read_sets(args, options: dict[str, str], read_images, one_kind, rgb: bool
              ) -> tuple[dict, dict]:
    """``cli_regimes.read_unpaired`` of the sets ``options`` (name -> option) names."""
    sets, axes_by_option, held = {}, {}, {}
    for name, option in options.items():
        spec = getattr(args, option.lstrip("-").replace("-", "_"))
        images = read_images(spec, args.axes)
        one_kind(images, option)  # a mix of RGB and single-channel in the set: refused
        held[f"{option} {spec}"] = set_kind(images)
        kinds = sorted({axes for _, _, axes in images})
        if len(kinds) > 1:  # the two files named, as --sharp's mix is (cli_training_data.planes_of)
            (first, _, axes), (second, _, other) = images[0], next(
                i for i in images if i[2] != images[0][2])
            raise UserError(f"{option} {first} has axes {axes} but {second} has {other}; "
                            "give images of one kind of axes")
        sets[name] = ([a for _, a, _ in images], kinds[0], f"{option} {spec}")
        axes_by_option[option] = kinds
    training = f"--sharp {args.sharp}" if args.sharp else f"--unpaired-sharp {args.unpaired_sharp}"
    check_same_kind(held, training, rgb)
    return sets, axes_by_option


def set_kind(images: list[tuple[str, np.ndarray, str]]) -> str:
    """'RGB', 'single-channel' or 'N-channel' (a C axis of N > 1) of a set's first image (a
    set's mixes are refused by ``one_kind`` and the axes check)."""
    _, array, axes = images[0]
    if axes.endswith("S"):
        return "RGB"
    channels = int(array.shape[axes.index("C")]) if "C" in axes else 1
    return "single-channel" if channels == 1 else f"{channels}-channel"


def check_same_kind(kinds: dict[str, str], training: str, rgb: bool) -> None:
    """``kinds``: '--unpaired-blurry DIR' -> ``set_kind`` of each set read; ``training``: the
    option and folder of the training images (``rgb``: whether they are RGB). One line naming
    both sides and what each holds where two sets differ."""
    named = list(kinds.items())
    for option, kind in named[1:]:
        if kind != named[0][1]:  # the sets of the cycle against each other first
            _refuse(named[0], (option, kind))
    if training in kinds or not named:  # the training images are one of the sets
        return
    option, kind = named[0]
    if (kind == "RGB") != rgb:
        _refuse((option, kind), (training, "RGB" if rgb else "single-channel"))


def _refuse(first: tuple[str, str], second: tuple[str, str]) -> None:
    raise UserError(f"{first[0]} holds {first[1]} images but {second[0]} holds {second[1]} "
                    "ones; give every set images with the same channels (RGB, single-channel "
                    "or as many channels)")
