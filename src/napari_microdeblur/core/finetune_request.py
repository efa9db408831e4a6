"""What a fine-tuning run is asked to do (``FinetuneRequest``: its fields of pairs, its options)
and the checks made on it before any work: the dock and `microdeblur finetune` build one,
``finetune.iter_finetune`` runs it."""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .job_defaults import (
    DEFAULT_ANCHOR_WEIGHT,
    DEFAULT_INTENSITY_JITTER,
    DEFAULT_MIN_GAIN_DB,
    DEFAULT_PATIENCE,
    DEFAULT_REPLAY,
    DEFAULT_TRAINABLE,
    PAIRED_LR,
    PAIRED_STEPS,
    TRAINABLE,
)
from .licences import joined_license
from .notes import DeblurNote
from .training.checkpoints import (
    check_checkpoint_dir,
    check_resumable,
    checkpoint_path,
    load_training_checkpoint,
)

__all__ = [
    "NOISE_SCALE_CALIBRATIONS", "SOURCE_KINDS", "FinetuneRequest", "ImageSet", "PairField",
    "StackField", "check_jitter", "check_request", "finetuned_license", "request_fields",
    "validation_scored",
]

#: When the job calibrates a PSF-aware network's noise scale (``FinetuneRequest``). "before
#: and after" by measurement (benchmarks/finetune_recipes.py on ssTEM training slices): "after"
#: alone changed nothing there (training at scale 1 had moved the best scale to 1).
NOISE_SCALE_CALIBRATIONS = ("off", "after", "before and after")
DEFAULT_NOISE_SCALE_CALIBRATION = "before and after"
#: What the model card calls the sources trained on (``FinetuneRequest.source_kind``).
SOURCE_KINDS = ("layer", "file")


@dataclass
class PairField:
    """One field of view: a blurry and a sharp array of the same shape and axes."""

    name: str
    blurry: Any
    sharp: Any
    axes: str | None = None


@dataclass
class StackField:
    """One field of view as a z-stack; every plane is paired to the in-focus one (or, with
    ``target_neighbours`` k, to the mean of the k planes each side of it and itself, the
    input's own plane left out: see ``pairs.pairs_from_stack``)."""

    name: str
    stack: Any
    axes: str | None = "ZYX"
    focus: int | str = "auto"
    target_neighbours: int = 0


@dataclass
class ImageSet:
    """Images without partners that a regime uses besides the pairs (sgpn's unlabelled blurry
    images, psf_cyclegan's unpaired blurry or sharp ones), all of the same axes."""

    name: str
    images: Sequence[Any]
    axes: str | None = None


@dataclass
class FinetuneRequest:
    """Everything a fine-tuning run needs (the dock collects it on the GUI thread).

    ``fields`` lists several :class:`PairField` / :class:`StackField`; when empty, the one
    field of ``mode`` ("pair": ``blurry``/``sharp``; "stack": ``stack``/``focus``) named
    ``layer_name``. ``minutes`` bounds the run (``steps`` is then the upper bound);
    ``resume`` continues the run whose ``last.pt`` is in ``checkpoint_dir``. ``psf`` is the
    PSF of the blurry images (a model text such as ``gaussian:1.6``, a TIFF path or an array;
    a 3D one gives its in-focus plane) for a PSF-aware network (``needs_psf``), which trains
    on grayscale or RGB pairs given that PSF (RGB as luminance and chroma planes,
    :func:`opponent_planes`); other networks refuse one. ``noise_scale_calibration`` (a
    PSF-aware network with validation): "after" tries the noise scales of
    ``psf_aware.NOISE_SCALE_GRID`` on the held-out region once training ends and writes the best
    into the card; "before and after" also trains at the one the starting weights score best
    with; "off" neither. ``regime`` is a
    training regime of ``core.training`` (``microdeblur train --regime``), with its image sets
    without partners in ``unpaired`` / ``unpaired_sharp`` (:class:`ImageSet`); the
    adversarial regimes keep their last checkpoint, not the best one. ``source_kind`` is what
    the model card calls the named sources: "layer" (the dock) or "file" (the CLI).
    ``pixel_size_um``: the Y/X pixel size of the images, in um, where their files or layers
    state it (``pixel_units.stated_pixel_size``); the card records it
    (``metrics['pixel_size_um']``) so a deblur of images at another scale warns
    (``files.card_pixel_note``). ``license``: the SPDX licence of the images trained on; the
    card records it with the starting weights' (``finetuned_license``), None: not stated.
    """

    mode: str  # "pair" | "stack"
    layer_name: str
    axes: str
    model: Any  # a copy of the base network; trained in place
    base_label: str
    base_card: Any
    blurry: Any = None
    sharp: Any = None
    stack: Any = None
    focus: int | str = "auto"
    target_neighbours: int = 0
    psf: Any = None
    fields: Sequence[PairField | StackField] = ()
    align: bool = True
    match_intensity: bool = True
    steps: int = PAIRED_STEPS
    patch: int = 64
    batch_size: int = 8
    lr: float = PAIRED_LR
    val_fraction: float = 0.2
    val_every: int | None = None
    patience: int | None = DEFAULT_PATIENCE
    augment: bool = True
    intensity_jitter: float = DEFAULT_INTENSITY_JITTER
    anchor_weight: float = DEFAULT_ANCHOR_WEIGHT
    trainable: str = DEFAULT_TRAINABLE
    replay: float = DEFAULT_REPLAY  # share of each batch from the start's synthetic mixture
    replay_images: Sequence[Any] | None = None  # sharp (C, Y, X) planes; None: the targets
    min_gain_db: float = DEFAULT_MIN_GAIN_DB
    minutes: float | None = None
    regime: str = "supervised"
    unpaired: ImageSet | None = None
    unpaired_sharp: ImageSet | None = None
    device: str = "auto"
    amp: str = "auto"
    checkpoint_dir: str = ""
    resume: bool = False
    seed: int = 0
    noise_scale_calibration: str = DEFAULT_NOISE_SCALE_CALIBRATION
    source_kind: str = "layer"
    pixel_size_um: float | None = None
    license: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)




def finetuned_license(base_card, given: str | None) -> str:
    """The licence of weights trained from ``base_card``'s on data under ``given`` (None: not
    stated): both as an SPDX AND, 'BSD-3-Clause AND NOASSERTION' where the data's is not
    stated (the card said the start's alone, as if the user's data had no terms; the Zoo
    export refuses it until a licence is given). A start that asserts none stays so (as
    `train --weights` does) unless the data's is given: 'NOASSERTION AND CC-BY-NC-SA-3.0'; no
    start (random weights): ``given``, else 'unknown'."""
    if given is not None and (not isinstance(given, str) or not given.strip()):
        raise ValueError(f"license={given!r}; give the SPDX licence of the images trained on, "
                         "e.g. 'CC-BY-4.0', or None where it is not stated")
    start = getattr(base_card, "license", None) if base_card is not None else None
    if not start:
        return given.strip() if given else "unknown"
    return joined_license(start, given.strip() if given else "NOASSERTION")


def check_jitter(jitter) -> float:
    if not (isinstance(jitter, (int, float)) and 0 <= jitter < 1):
        raise ValueError(f"intensity_jitter={jitter!r}; accepted: a number in [0, 1)")
    return float(jitter)


def check_replay(req: FinetuneRequest) -> None:
    """``trainable`` and ``replay`` (a share of each batch in [0, 1)); replay needs a blind
    network trained under the supervised regime (a PSF-aware one trains with the user's PSF)."""
    if req.trainable not in TRAINABLE:
        raise ValueError(f"trainable={req.trainable!r}; accepted: one of {TRAINABLE}")
    share = req.replay
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share < 1:
        raise ValueError(f"replay={share!r}; accepted: the share of each batch, 0 (off) up to, "
                         "not including, 1")
    if share > 0 and (req.regime != "supervised" or getattr(req.model, "needs_psf", False)):
        raise ValueError("replay: only for blind networks fine-tuned in the supervised regime "
                         "(a PSF-aware network trains with your PSF, other regimes on their own "
                         "image sets); give replay=0")
    if share > 0 and req.batch_size < 2:
        raise ValueError(f"replay={share!r} with batch_size=1: a batch of one patch has no "
                         "room to replay in; give batch_size=2 or more, or replay=0")
    if req.trainable != "all" and req.regime != "supervised":
        # the adversarial regimes' and PSF-CycleGAN's parts (its PSF layer, which no forward
        # pass of the network runs) would be frozen without a word
        raise ValueError(f"trainable={req.trainable!r}: only in the supervised regime, not "
                         f"{req.regime!r}; give trainable='all'")
    images = req.replay_images
    if images is not None and (share == 0 or isinstance(images, (str, bytes)) or not all(
            np.ndim(image) == 3 for image in images)):
        raise ValueError("replay_images: a list of sharp (C, Y, X) images, with replay > 0; "
                         "give replay= the share of each batch to replay on them")


def replay_from(images) -> str | None:
    """What a run replays on, as its config records it (``TrainingConfig.replay_from``): the
    training targets (None given), or the images given by count and content, so that a
    resumed run that would replay on other images is refused."""
    if images is None:
        return "the training targets"
    digest = hashlib.sha256()
    for image in images:
        array = np.ascontiguousarray(image)
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(array.tobytes())
    return f"{len(images)} replay image(s), sha256 {digest.hexdigest()[:12]}"


def request_fields(req: FinetuneRequest) -> list[PairField | StackField]:
    """The request's fields, a stack's ``target_neighbours`` cut to what it has
    (``neighbours_kept``) where its focus plane is given: the card said the number asked."""
    if req.fields:
        return [neighbours_kept(f) for f in req.fields]
    if req.mode == "pair":
        return [PairField(req.layer_name, req.blurry, req.sharp, req.axes or None)]
    if req.mode == "stack":
        return [neighbours_kept(StackField(req.layer_name, req.stack, req.axes or None,
                                           req.focus, req.target_neighbours))]
    raise ValueError(f"mode={req.mode!r}; accepted: 'pair' or 'stack'")


def neighbours_kept(f):
    """``f``, a stack of a given focus plane (not 'auto': found from its pixels, later) with
    ``target_neighbours`` cut to the planes the nearer end of the stack leaves each side
    (``pairs.neighbours_kept``, which refuses a focus plane at the end); other fields as given."""
    if not isinstance(f, StackField) or not f.target_neighbours or f.focus == "auto":
        return f
    from . import pairs

    shape = tuple(int(n) for n in np.shape(f.stack))
    axes = pairs.check_focus_stack(shape, f.axes, f.focus)
    kept = pairs.neighbours_kept(shape[axes.index("Z")], int(f.focus), f.target_neighbours)
    return f if kept == f.target_neighbours else replace(f, target_neighbours=kept)


def check_request(req: FinetuneRequest) -> Path | None:
    """Options checked before any work; the checkpoint folder (None: none was given)."""
    if req.minutes is not None and not (isinstance(req.minutes, (int, float))
                                        and np.isfinite(req.minutes) and req.minutes > 0):
        raise ValueError(f"minutes={req.minutes!r}; accepted: a number of minutes > 0")
    if not 0 <= req.val_fraction < 1:
        raise ValueError(f"val_fraction={req.val_fraction!r}; accepted: 0 (no validation) "
                         "up to, not including, 1")
    if req.patience is not None and (isinstance(req.patience, bool) or req.patience < 1):
        raise ValueError(f"patience={req.patience!r}; accepted: None or an integer >= 1")
    check_jitter(req.intensity_jitter)  # before the pairs are aligned, which takes a while
    check_replay(req)
    if req.noise_scale_calibration not in NOISE_SCALE_CALIBRATIONS:
        raise ValueError(f"noise_scale_calibration={req.noise_scale_calibration!r}; accepted: "
                         + ", ".join(map(repr, NOISE_SCALE_CALIBRATIONS)))
    size = req.pixel_size_um
    if size is not None and (isinstance(size, bool) or not isinstance(size, (int, float))
                             or not (np.isfinite(size) and size > 0)):
        raise ValueError(f"pixel_size_um={size!r}; accepted: None (not stated) or the images' "
                         "pixel size in um, a number > 0")
    finetuned_license(req.base_card, req.license)  # a bad one before any work
    if req.source_kind not in SOURCE_KINDS:
        raise ValueError(f"source_kind={req.source_kind!r}; accepted: "
                         + ", ".join(map(repr, SOURCE_KINDS)))
    if not req.checkpoint_dir:
        return None
    ckdir = check_checkpoint_dir(req.checkpoint_dir, resume=req.resume)
    if req.resume:
        check_resumable(ckdir, req.model, req.steps, {
            "lr": req.lr, "batch_size": req.batch_size, "patch": req.patch,
            "anchor_weight": req.anchor_weight, "trainable": req.trainable,
            "replay": req.replay, "replay_from": replay_from(req.replay_images)
            if req.replay else None, "intensity_jitter": req.intensity_jitter,
            "augment": req.augment})
        check_same_start(ckdir, req)
    return ckdir


def started_from(label: str, base_card) -> str:
    """How a fine-tuned card's training data opens (``finetune._prepare``): the starting
    weights' name and their own training data."""
    if base_card is None:  # a network trained here from random weights
        return f"{label} trained"
    return f"{label} ({getattr(base_card, 'training_data', '')}) fine-tuned"


def check_same_start(ckdir: Path, req: FinetuneRequest) -> None:
    """A resume from other starting weights of the same architecture, or with another
    licence of the images, refused in one line each: the card then named this session's
    start, its training data and licence, not the run's (as `train --resume` refuses). A
    run saved before license= existed resumes with this run's licence, said in one note."""
    where = checkpoint_path(ckdir)
    loaded_config = load_training_checkpoint(where).get("config") or {}
    saved = loaded_config.get("card") or {}
    if not saved:  # an earlier release's checkpoint: nothing to compare with
        return
    start = started_from(req.base_label, req.base_card)
    if not str(saved.get("training_data", "")).startswith(f"{start} on "):
        verb = start.rsplit(" ", 1)[1]  # the description: "LABEL fine-tuned for ..."
        was = str(saved.get("description", "")).partition(f" {verb} for ")[0]
        other = (f"{req.base_label!r} (weights of other training data: "
                 f"{getattr(req.base_card, 'training_data', '')!r})"
                 if was == req.base_label else repr(req.base_label))
        raise ValueError(f"resume: {where} was started from {was!r}, not {other}; give "
                         f"weights={was!r} as before, or start a new run (from its "
                         "best.safetensors) in another checkpoint_dir")
    license = finetuned_license(req.base_card, req.license)
    if saved.get("license") in (None, license):
        return
    if _before_license_option(loaded_config, saved, req.base_card):
        # its card holds the start's licence alone: the images' was never asked for, so the
        # run goes on with today's rule rather than claim theirs is the start's
        # the dock asks no licence; the CLI's option is the way to state one (warnings are
        # not put in the CLI's words, so it is named as such)
        stated = "" if req.license is not None else (
            ", theirs not stated (--license, license= in Python, states it)")
        warnings.warn(f"resume: {where} was saved before the images' licence was recorded (its "
                      f"card gives the starting weights' alone, {saved['license']!r}); the run "
                      f"resumes with {license!r}, the starting weights' AND the images'{stated}",
                      DeblurNote, stacklevel=2)
        return
    raise ValueError(f"resume: {where} was started with licence {saved['license']!r} "
                     f"(the starting weights' AND the images'), not {license!r}; give the "
                     "same license= as before, or start a new run (from its "
                     "best.safetensors) in another checkpoint_dir")


def _before_license_option(config: dict, saved_card: dict, base_card) -> bool:
    """Whether a run's saved state is of a release before ``license=`` (2026-12-06): its card
    gives the starting weights' licence alone, where every run since adds the images' ('AND
    NOASSERTION' when not given), and its config lacks ``trainable``, which every run since
    2026-12-06 records. (A run of that day given the start's own licence as license= looks the
    same: it resumes with 'AND NOASSERTION', which claims nothing of the images.)"""
    start = getattr(base_card, "license", None) if base_card is not None else "unknown"
    return "trainable" not in config and saved_card.get("license") == start


def validation_scored(match_intensity: bool, fields: Sequence = ()) -> str:
    """What validation PSNR/SSIM are measured against (``pairs._make_pair``): a walkthrough
    read 37.8 dB on validation where evaluate gave the same band 21.2 dB, the blurry image
    holding a camera offset its simulated truth did not. The reference scale is named for the
    dtype of the ``fields``' sharp images or stacks (``pairs.dtype_reference_scale``: uint8
    0-255, other integers each plane's maximum, floats its min-max); 8-bit data was told
    '16-bit: its maximum'."""
    kinds = []
    for given in fields:
        image = given.sharp if isinstance(given, PairField) else given.stack
        dtype = np.dtype(image.dtype if hasattr(image, "dtype") else np.asarray(image).dtype)
        if dtype == np.uint8:
            kind = "8-bit: 0-255"
        elif dtype.kind == "u":
            kind = f"{dtype.itemsize * 8}-bit: its maximum"
        else:  # signed integers (>= 0) by their maximum, floats min-max
            kind = f"{dtype.name}: its {'min-max range' if dtype.kind == 'f' else 'maximum'}"
        kinds += [kind] if kind not in kinds else []
    scale = ("on the 8-bit reference scale (0-255)" if kinds == ["8-bit: 0-255"] else
             f"each plane on its own reference scale ({'; '.join(kinds) or 'by its dtype'})")
    if match_intensity:
        return (f"validation PSNR is against the intensity-matched sharp planes, {scale}; "
                "evaluate and Compare & QC score the unmatched sharp image, evaluate --match "
                "a matched one")
    return (f"validation PSNR is against the sharp planes in the blurry planes' units, {scale}, "
            "not the whole image's as evaluate and Compare & QC")
