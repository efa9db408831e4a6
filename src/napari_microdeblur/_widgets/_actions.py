"""The "Deblur with default model" action for the selected image layer: Layers > Filter (npe2 menu
``napari/layers/filter``) and the command palette. napari >= 0.5 does not let plugins into the
layer list's right-click menu; the manifest also names ``napari/layers/context`` for napari
versions that do.

Runs the Deblur dock's job (``_jobs.start_deblur``) on the whole layer with method 'auto' for
its image type, as the Deblur dock takes it: the type its metadata states (the samples set it;
``_layers.layer_modality``), else RGB brightfield, grayscale fluorescence. EM and brightfield
run the PSF-aware network with a PSF estimated from the image, fluorescence the blind network;
progress shows in napari's activity dock, errors in a notification. Nothing is added if the
run fails or the viewer closes first. Run on a sample's sharp reference (its metadata's
``sample_role``), it still runs, with a warning that names the sample's blurred layer.
"""

from __future__ import annotations

from napari.layers import Layer
from napari.viewer import Viewer

from ._feedback import describe_error, notify_error, notify_info, notify_warning
from ._jobs import DeblurRequest, removed_note, start_deblur
from ._layer_data import source_placement
from ._layers import (
    check_image_layer,
    guess_layer_axes,
    layer_axes_note,
    layer_data,
    layer_modality,
    unwrap,
)
from ._methods import auto_words

#: runs started from the menu, kept alive until they finish
RUNNING: set = set()


def run_done(run) -> None:
    RUNNING.discard(run)
    if run.layer is not None and removed_note(run):  # this action has no dock status line
        notify_info(f"added {run.layer.name!r}{removed_note(run)}")


def running_on(layer):
    """The unfinished run of this action on ``layer`` (None if there is none)."""
    for run in RUNNING:
        source = run.req.placement.get("source")
        if not run.done and source is not None and source() is unwrap(layer):
            return run
    return None


def multiscale_note(layer) -> str:
    """What runs on a multiscale layer: its full-resolution level only, as one layer."""
    if not getattr(layer, "multiscale", False):
        return ""
    shape = " x ".join(str(int(s)) for s in layer_data(layer).shape)
    return (f"multiscale layer: its full-resolution level ({shape}) is deblurred, the result "
            "is a single-scale layer")


def sample_role(layer) -> str | None:
    """'ground truth' or 'blurred' for a layer of a bundled sample (``_sample_data`` writes it
    into the metadata, which survives a renamed layer), else None."""
    metadata = getattr(layer, "metadata", None)
    return metadata.get("sample_role") if isinstance(metadata, dict) else None


def sharp_reference_warning(layer, viewer) -> str:
    """One line when ``layer`` is a sample's sharp reference: deblurring it is rarely meant
    (Compare & QC then scores the reference's own deblurred copy against it), so it names the
    sample's blurred layer; '' for any other layer."""
    if sample_role(layer) != "ground truth":
        return ""
    sample = layer.metadata.get("sample")
    blurred = [la.name for la in viewer.layers
               if sample_role(la) == "blurred" and la.metadata.get("sample") == sample]
    if blurred:  # the latest opened of the sample, if it was opened more than once
        where = f"the blurred one is {blurred[-1]!r}: select it and run again"
    else:
        named = (layer.metadata.get("sample_layers") or {}).get("blurred")
        where = (f"its blurred layer{f' {named!r}' if named else ''} is not in the viewer: "
                 "open the sample again")
    return (f"{layer.name!r} is the sample's sharp reference (ground truth), deblurred anyway; "
            f"{where}, and keep this one as Compare & QC's ground truth")


def deblur_with_default_model(layer: Layer, viewer: Viewer):
    """Deblur the right-clicked image layer with the default model; returns the run (or None)."""
    from ..core import bundled
    from ..core.method import MethodSpec

    try:
        check_image_layer(layer)
        if running_on(layer) is not None:  # a second click would add the same layer again
            notify_warning(f"{layer.name!r} is already being deblurred with the default model; "
                           "wait for that run (progress in the activity panel)")
            return None
        if not bundled.BUNDLED_WEIGHTS:
            notify_warning(
                "No default weights are installed (the bundled weights table is empty). Open "
                "Plugins > napari-microdeblur > Deblur to load weights or to use Richardson-Lucy "
                "/ Wiener with a PSF."
            )
            return None
        axes = guess_layer_axes(layer)
        if not axes:
            raise ValueError(
                f"cannot tell the axes of layer {layer.name!r} (shape {layer.data.shape}); use "
                "the Deblur dock and enter them"
            )
        # the image type as the Deblur dock takes it, so the same layer runs the same network
        spec = MethodSpec("auto", modality=layer_modality(layer))
        req = DeblurRequest(
            source_name=layer.name,
            image=layer_data(layer),
            axes=axes,
            method=spec,  # RGB may run a grayscale network channel by channel
            label=bundled.auto_method_name(spec, "S" in axes),
            placement=source_placement(layer),
        )
        run = start_deblur(viewer, req, on_done=run_done)
    except (ValueError, TypeError, OSError) as error:
        notify_error(describe_error(error))
        return None
    RUNNING.add(run)
    warning = sharp_reference_warning(layer, viewer)
    if warning:
        notify_warning(warning)
    # the network is known only once the image is read: a PSF estimate may fail
    what = auto_words(req.method, "S" in axes)
    # a guess in doubt (CZYX or TZYX?) is said: this action has no axes field to show it
    notes = [layer_axes_note(layer, axes, give="type {0} in the Deblur dock's Axes"),
             multiscale_note(layer)]
    notify_info(f"deblurring {layer.name!r} with {what} (progress in the activity panel)"
                + "".join(f"; {note}" for note in notes if note))
    return run
