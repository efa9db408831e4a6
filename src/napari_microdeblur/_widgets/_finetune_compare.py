"""After a Fine-tune run (done or stopped): the region validation held out, deblurred by the
base model and by the kept weights, added as new layers and handed to the Compare & QC dock,
so the user sees the gain (or its absence) before keeping the model. Nothing the user had is
modified: the layers are crops copied from the training layers.

Compare & QC gets the base model's result as 'Blurry' (what the fine-tuned one is measured
against), the fine-tuned result as 'Deblurred' and, with paired data, the sharp target of the
region as 'Ground truth': its 'gain' row is then the gain of the fine-tuning. The input of the
region is added as a layer too. The region is scored whole (no 16-px border excluded).

After a paired run the region is also deblurred by ``auto`` (the Deblur dock's default for the
image type: for brightfield and EM the PSF-aware network with a PSF estimated from the image,
not the blind network the base defaults to), added as a layer ``[auto: ...]``; the status line
says the fine-tuned result's PSNR against auto's, so a model below the default is not adopted.
Where auto runs the base model itself (a grayscale fluorescence layer, no PSF: the blind
default), the region is not deblurred twice and the status line says the base row is auto's.

The base and fine-tuned layers record which weights made them (``method``, ``weights_sha256``,
``weights_source``, ``arch`` in ``layer.metadata['microdeblur']``, as a Deblur dock result):
File > Save writes that record into the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._jobs import DeblurRequest, iter_deblur_job
from ._layer_data import add_layer, card_field, placed_kwargs, source_now, source_placement
from ._layers import layer_data, unwrap

PLUGIN = "napari-microdeblur"
COMPARE_DOCK = "Compare & QC"


@dataclass
class HeldOutRegion:
    """The held-out part of the training layer: a crop of every plane along Y or X."""

    layer_name: str
    axes: str
    image: np.ndarray  # the input crop (a copy)
    target: np.ndarray | None  # the sharp target crop, same shape (None: no reference)
    offset: tuple[int, ...]  # of the crop inside the layer, per napari dim
    placement: dict
    full_image: Any  # the whole layer: it fixes the intensity normalisation, as in a deblur
    text: str  # what the region is, for names and the status line
    weights: tuple = ()  # per network of the comparison, its ``weights_record``
    auto_label: str = ""  # what 'auto' ran on the region ('' where it did not run)
    auto_psf: str | None = None  # the PSF auto estimated on the whole layer, if any
    auto_is_base: bool = False  # auto runs the base model here: its row is the base row
    scores: dict | None = None  # PSNR (dB) of each role against the target, when there is one
    # contrast, gamma and colormap of the sharp layer the target was cropped from ({}: the
    # target is the layer's own in-focus plane, shown like the input)
    target_shown: dict = field(default_factory=dict)


@dataclass
class RegionPlan:
    """What ``read_region`` will read, fixed on the GUI thread without reading any pixel: a
    lazy (dask, zarr) stack is only read in the compare worker, so napari does not freeze."""

    layer_name: str
    axes: str
    data: Any  # the layer's array (not read yet)
    sharp: Any  # the sharp layer's array, or None
    focus: int | None
    key: tuple
    offset: tuple[int, ...]
    placement: dict
    text: str
    target_shown: dict = field(default_factory=dict)  # as ``HeldOutRegion.target_shown``


#: what a comparison layer takes from the layer it was cropped from, besides its placement
DISPLAY_KEYS = ("contrast_limits", "gamma", "colormap")


def shown_as(layer) -> dict:
    """The contrast limits, gamma and colormap (none for RGB) ``layer`` is shown with."""
    placement = source_placement(layer)
    return {key: placement[key] for key in DISPLAY_KEYS if key in placement}


def plan_region(layer, axes: str, region, *, sharp=None, focus: int | None = None,
                sharp_data=None) -> RegionPlan:
    """The crop of ``layer`` (axes ``axes``) that validation held out. ``region``: (axis 'Y'
    or 'X', start, stop) in plane pixels, or None (no band: the whole layer). The target is
    the same crop of the ``sharp`` layer (of ``sharp_data`` when given: the array trained on,
    e.g. one in-focus image repeated along the stack), or of the in-focus plane ``focus`` of
    a z-stack repeated along Z, or None. Reads no pixel (see ``read_region``)."""
    key = [slice(None)] * len(axes)
    offset = [0] * (len(axes) - ("S" in axes))
    if region is None:
        text = "whole layer (nothing held out)"
    else:
        axis, start, stop = region
        where = axes.index(axis)
        key[where], offset[where] = slice(int(start), int(stop)), int(start)
        text = f"held-out band {axis} {start}-{stop}"
    focus = int(focus) if focus is not None and "Z" in axes else None
    if sharp_data is None and sharp is not None:
        sharp_data = layer_data(sharp)
    return RegionPlan(layer.name, axes, layer_data(layer), sharp_data, focus, tuple(key),
                      tuple(offset), source_placement(layer), text,
                      shown_as(sharp) if sharp is not None else {})


def read_region(plan: RegionPlan) -> HeldOutRegion:
    """The pixels of ``plan`` (in the compare worker: a lazy stack reads its band here)."""
    crop = np.array(plan.data[plan.key])
    target = None
    if plan.sharp is not None:
        target = np.array(plan.sharp[plan.key])
    elif plan.focus is not None:
        z = plan.axes.index("Z")
        target = np.repeat(np.take(crop, [plan.focus], axis=z), crop.shape[z], axis=z)
    return HeldOutRegion(plan.layer_name, plan.axes, crop, target, plan.offset,
                         plan.placement, plan.data, plan.text, target_shown=plan.target_shown)


def held_out_region(layer, axes: str, region, *, sharp=None, focus: int | None = None
                    ) -> HeldOutRegion:
    """``plan_region`` and ``read_region`` at once (reads the pixels in the calling thread)."""
    return read_region(plan_region(layer, axes, region, sharp=sharp, focus=focus))


def weights_record(network) -> dict:
    """What a comparison layer records of the network that made it: its label and its card's
    sha256, source (a file by its name, not the user's folder) and architecture."""
    from ..core.provenance import file_names

    card = network.card
    return file_names({
        "method": network.label,
        "weights_sha256": card_field(card, "sha256"),
        "weights_source": card_field(card, "source"),
        # a new network (no card) still says what it is
        "arch": card_field(card, "arch") or getattr(network.model, "arch_name", None),
    })


def auto_words(spec, outcome_label: str, rgb: bool, given: bool = False) -> str:
    """'auto: NAME + estimated PSF' (what 'auto' ran on the region, ``spec`` settled on the
    whole layer: a PSF there is the estimate unless the run's PSF was ``given``), or
    'auto: BLIND' where the layer gave none."""
    from ..core.bundled import auto_method_name

    if spec.name != "auto" or outcome_label != spec.name:  # the blind network, or RL in 3D
        return f"auto: {spec.name if spec.name != 'auto' else outcome_label}"
    extra = "" if spec.psf is None else " + the run's PSF" if given else " + estimated PSF"
    return f"auto: {auto_method_name(spec, rgb)}{extra}"


def auto_runs_base(spec, rgb: bool, base_label: str) -> bool:
    """Whether 'auto' (``spec`` settled on the layer) runs the base model itself: no PSF
    given or estimated, and the blind default of the image type is the base."""
    from ..core.bundled import auto_method_name

    return spec.psf is None and auto_method_name(spec, rgb) == base_label


def region_scores(region: HeldOutRegion, images) -> dict | None:
    """PSNR (dB) of base, tuned (and auto) on the whole region against its target, on the
    target's scale (``metrics.reference_scale``); None without a target."""
    from ..core.metrics import psnr, to_reference_scale

    if region.target is None:
        return None
    scores = {}
    for role, image in zip(("base", "tuned", "auto"), images):
        x, ref = to_reference_scale(np.asarray(image, np.float32), region.target)
        scores[role] = psnr(x, ref, data_range=1.0)
    return scores


def iter_compare_job(plan: RegionPlan, networks, device: str, psf=None, auto=None):
    """Worker body: the region of ``plan`` read, then deblurred by each of ``networks``
    (SessionModels), in float32 as validation scores it; yields the deblur progress, returns
    (the HeldOutRegion, with each network's ``weights_record``, the images in order). ``psf``:
    the PSF the run trained with, given to the networks that take one (and to 'auto').
    ``auto``: the layer's image type ('auto', 'brightfield', ...) to deblur the region with
    method 'auto' as well, its image last (its PSF estimated on the whole layer), or None."""
    from ..core.axes import is_rgb
    from ..core.image_settings import spec_for_image
    from ..core.method import MethodSpec
    from ..core.thread_warnings import caught
    from ..core.tiling_spec import TilingSpec
    from ..core.total_check import unsaid

    region = read_region(plan)
    images = []
    for network in networks:
        takes_psf = getattr(network.model, "needs_psf", False)
        spec = MethodSpec(precision="float32", psf=psf if takes_psf else None)
        req = DeblurRequest(source_name=region.layer_name, image=region.image,
                            axes=region.axes, method=spec,
                            label=network.label, network=network,
                            tiling=TilingSpec(device=device), full_image=region.full_image)
        with unsaid():  # the band's comparison, not the user's result: no total note
            outcome = yield from iter_deblur_job(req)
        images.append(np.asarray(outcome.result.image))
    region.weights = tuple(weights_record(network) for network in networks)
    if auto is not None:  # its PSF estimated on the whole layer, as a deblur of it: a thin
        # band (30 px) gave none, and auto fell back to the blind network, the base
        with caught():  # its estimate is named in the layer's name and record, not warned
            spec = spec_for_image(MethodSpec(modality=auto, precision="float32", psf=psf),
                                  region.full_image, region.axes)
        region.auto_psf = spec.psf if isinstance(spec.psf, str) else None
        rgb = is_rgb(region.axes, tuple(region.image.shape))
        if auto_runs_base(spec, rgb, networks[0].label):  # the same result a second time
            region.auto_label, region.auto_is_base = f"auto: {networks[0].label}", True
            region.scores = region_scores(region, images)
            return region, images
        req = DeblurRequest(source_name=region.layer_name, image=region.image,
                            axes=region.axes, method=spec, label=spec.name,
                            tiling=TilingSpec(device=device), full_image=region.full_image)
        with unsaid():
            outcome = yield from iter_deblur_job(req)
        images.append(np.asarray(outcome.result.image))
        region.auto_label = auto_words(spec, outcome.label, rgb, given=psf is not None)
    region.scores = region_scores(region, images)
    return region, images


def add_comparison(viewer, region: HeldOutRegion, base_label: str, tuned_label: str,
                   images, run: int = 1) -> dict:
    """Add the region's input, base result, fine-tuned result (and target) as layers and show
    them in the Compare & QC dock (opened if it is not). Returns the new layers by role.
    ``run``: the dock's run number, in the names from the second run on (napari's own
    "[1]" suffix did not say which run a layer came from)."""
    base, tuned, *auto = images
    source = source_now(viewer, region.placement)  # renamed while the comparison ran, say
    name = f"{region.layer_name if source is None else source.name} {region.text}"
    if run > 1:
        name += f", run {run}"
    kwargs = placed_kwargs(region.placement, region.offset)
    meta = {"finetune_comparison": region.text}
    made_by = dict(zip(("base", "tuned"), region.weights))  # which weights made the result
    made_by["auto"] = {"method": region.auto_label, "psf": region.auto_psf}
    layers = {}
    for role, image, label in (("input", region.image, "input"),
                               ("base", base, f"[{base_label}]"),
                               ("tuned", tuned, f"[{tuned_label}]"),
                               ("auto", auto[0] if auto else None, f"[{region.auto_label}]"),
                               ("target", region.target, "sharp target")):
        if image is None:
            continue
        record = {**made_by.get(role, {}), **meta, "role": role}
        # the target is shown as the sharp layer is, the rest as the blurry one
        shown = region.target_shown if role == "target" else {}
        layer_kwargs = {**kwargs, **shown, "name": f"{name}: {label}",
                        "metadata": {"microdeblur": record}}
        layers[role] = unwrap(add_layer(viewer, (image, layer_kwargs, "image")))
    _, compare = viewer.window.add_plugin_dock_widget(PLUGIN, COMPARE_DOCK)
    compare.set_layers(blurry=layers["base"], deblurred=layers["tuned"],
                       truth=layers.get("target"), rows=("base model", "fine-tuned"))
    if "target" not in layers:
        compare.truth_combo.setCurrentIndex(0)  # no reference: '(choose a ground truth)'
    # the region is a crop of its own: the 16-px image border the protocol excludes would
    # eat most of a thin band
    compare.border_check.setChecked(False)
    return layers


def shown_line(viewer, region: HeldOutRegion) -> str:
    """The status line once the comparison is shown (``add_comparison``)."""
    line = f"Compare & QC shows the {region.text}: base model against fine-tuned."
    scores = region.scores or {}
    if "auto" in scores:  # the Deblur dock's default, which the base may not be
        gain = scores["tuned"] - scores["auto"]
        line += (f" Fine-tuned {scores['tuned']:.2f} dB vs {region.auto_label} "
                 f"{scores['auto']:.2f} dB ({gain:+.2f} dB): "
                 + ("it beats the default Deblur here." if gain > 0 else
                    "the default Deblur ('auto') does better here."))
    elif region.auto_is_base:
        line += (f" The default Deblur ('auto') runs the base model on this layer: the base "
                 f"row is what it gives ({region.auto_label}).")
    elif region.auto_label:
        line += f" Layer [{region.auto_label}] shows what the default Deblur gives."
    if source_now(viewer, region.placement) is None:  # its crops were added all the same
        line += (f" Input layer {region.layer_name!r} was removed during the comparison; its "
                 "layers keep its old name.")
    return line
