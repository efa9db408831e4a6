"""Which layers the Compare & QC dock takes as blurry, deblurred and ground truth: what it
opens on, what it fills in as layers are added, and the line that warns when the deblurred
layer was made from the sharp reference; and the watch on the chosen layers' pixels
(``DataWatcher``: replaced, or changed in place and refreshed).

A layer's role comes first from what the plugin wrote: a deblur result's record
(``metadata['microdeblur']``, whose 'source_layer' names the layer it was made from: that
layer is a deblur input), a 'role' in its metadata; then from its name ('... deblurred
[...]', '... sharp (ground truth)', '... blurred (protocol A)'). Only a layer marked as the
sharp reference is guessed as the ground truth (never an unmarked one: another channel of the
same file had been taken), never a layer marked blurred, a deblur input or a result.
"""

from __future__ import annotations

import re
import weakref
from contextlib import contextmanager

import numpy as np

from ._compare_parts import check_pair
from ._jobs import last_deblur
from ._layers import (
    INPUT_WORDS,
    alive_in,
    check_image_layer,
    input_rank,
    layer_data,
    made_here,
    name_words,
    names_reference,
    unwrap,
)
from ._run_input import holds_what_was_read

ROLES = ("blurry", "deblurred", "truth")
#: a layer's metadata 'role' (lower case) -> the dock's role
NO_TRUTH = ("choose a ground truth: the sharp reference image, of the same shape as the "
            "blurry and deblurred layers (one named sharp, in-focus or reference, or with "
            "metadata role 'ground truth', is chosen by itself); the table shows once one is "
            "chosen")
SAID_ROLES = {"ground truth": "truth", "truth": "truth", "sharp": "truth",
              "reference": "truth", "blurred": "blurry", "blurry": "blurry",
              "input": "blurry", "deblurred": "deblurred"}


def image_layers(viewer) -> list:
    from napari.layers import Image

    return [unwrap(la) for la in viewer.layers if isinstance(la, Image)]


def same_image_shape(a, b) -> bool:
    return tuple(layer_data(a).shape) == tuple(layer_data(b).shape) and a.rgb == b.rgb


def deblur_record(layer) -> dict | None:
    """The plugin's record of a deblur result (it names its input layer), else None."""
    metadata = getattr(layer, "metadata", None)
    record = metadata.get("microdeblur") if isinstance(metadata, dict) else None
    return record if isinstance(record, dict) and "source_layer" in record else None


def own_mark(layer) -> str:
    """'deblurred', 'truth', 'blurry', 'plugin' (made by the plugin but no deblur result: a
    preview, heatmap or difference map, never a role) or '' by the layer alone."""
    if deblur_record(layer) is not None:
        return "deblurred"
    if made_here(layer):
        return "plugin"
    metadata = layer.metadata if isinstance(layer.metadata, dict) else {}
    said = metadata.get("role") or metadata.get("sample_role")  # the samples write the latter
    if isinstance(said, str) and said.strip().lower() in SAID_ROLES:
        return SAID_ROLES[said.strip().lower()]
    words = name_words(layer)  # the other docks' words: 'nuclei in-focus' names a reference
    # a result's name starts with its input's: 'nuclei sharp (ground truth) deblurred [...]'
    if any(w.startswith("deblur") for w in words):
        return "deblurred"
    if names_reference(words):
        return "truth"
    return "blurry" if any(w.startswith(i) for w in words for i in INPUT_WORDS) else ""


def marks(images: list) -> dict:
    """{layer: own_mark}, with an unmarked layer that a result was made from as 'blurry'."""
    out = {la: own_mark(la) for la in images}
    inputs = {paired_input_name(la) for la in images} - {None}
    return {la: "blurry" if mark == "" and la.name in inputs else mark
            for la, mark in out.items()}


def input_of(viewer, layer):
    """The layer ``layer`` was deblurred from (the last deblur's, else the one its record
    names), or None."""
    last = last_deblur(viewer)
    if last is not None and unwrap(last[1]) is layer:
        return unwrap(last[0])
    name = paired_input_name(layer)
    found = next((la for la in image_layers(viewer) if la.name == name and la is not layer),
                 None)
    return None if input_changed_since(viewer, layer) else found


def input_replaced(layer) -> bool:
    """Whether ``layer`` is a result whose input layer got other data during its run."""
    record = deblur_record(layer)
    return record is not None and bool(record.get("input_replaced"))


def input_changed_since(viewer, layer) -> bool:
    """Whether the input layer the result ``layer`` names is there but holds other data than
    its run read (given a new field of view after the run)."""
    name = paired_input_name(layer)
    found = next((la for la in image_layers(viewer) if la.name == name and la is not layer),
                 None)
    return found is not None and not holds_what_was_read(found, layer)


def paired_input_name(layer) -> str | None:
    """The name of the layer a result was made from, None where its input's data was
    replaced during the run (the result would be scored against other data)."""
    record = deblur_record(layer)
    return None if record is None or input_replaced(layer) else record.get("source_layer")


def pick_truth(images: list, kinds: dict, like, taken) -> object | None:
    """A ground truth of ``like``'s shape, not ``taken``: only a layer marked as the sharp
    reference (sample role, metadata role, name). An unmarked layer of the same shape was
    taken too: beside a deblurred 'DAPI' it took 'GFP', another channel of the same file,
    and scored 19.67 -> 18.76 dB against it without a word; Ground truth stays empty and
    the dock's line says how to choose or name it (``NO_TRUTH``)."""
    return next((la for la in images if la not in taken and kinds[la] == "truth"
                 and same_image_shape(la, like)), None)


def says_defocus(layer) -> bool:
    """Whether ``layer``'s name says it is out of focus ('out-of-focus', 'defocused',
    'unfocused'); not a blurred mark (a defocus stack is no reference either)."""
    return bool(re.search(r"\bout of focus\b|\b(?:de|un)focus", " ".join(name_words(layer))))


def blurry_beside(images: list, kinds: dict, truth) -> object | None:
    """For Blurry beside a ground truth and no layer marked blurred: an unmarked image of the
    truth's shape (never a result, a plugin layer or a reference), ranked as the other docks
    rank their input (``input_rank``), a name saying out of focus first. 'x' beside
    'x in-focus' was left out, while the Fine-tune dock proposed it."""
    fits = [la for la in images if kinds[la] == "" and la is not truth
            and same_image_shape(la, truth)]
    return min(fits, key=lambda la: (input_rank(la), not says_defocus(la)), default=None)


def guess_roles(viewer) -> dict:
    """Layers for the roles 'blurry', 'deblurred', 'truth' (absent: nobody fits).

    After a deblur of a whole layer: its input and result, and a ground truth only when a
    layer of the same shape is marked as the sharp reference (``pick_truth``). When that
    input is marked as the sharp reference, it stays the ground truth and the blurry is a
    marked blurred layer of its shape (``made_from_truth_line`` says so). Otherwise by the
    marks, and beside a ground truth with no blurred mark, an unmarked layer (``blurry_beside``)."""
    images = image_layers(viewer)
    kinds = marks(images)
    last = last_deblur(viewer)
    if last is not None and same_image_shape(*last):
        source, result = (unwrap(la) for la in last)
        if kinds.get(source) == "truth":
            picks = {"deblurred": result, "truth": source}
            blurry = next((la for la in images if kinds[la] == "blurry" and la is not result
                           and same_image_shape(la, source)), None)
        else:
            picks = {"blurry": source, "deblurred": result}
            blurry, picks["truth"] = None, pick_truth(images, kinds, source, (source, result))
        picks.setdefault("blurry", blurry)
        return {role: la for role, la in picks.items() if la is not None}
    picks = {role: next((la for la in images if kinds[la] == role), None)
             for role in ("blurry", "truth")}
    if picks["truth"] is not None and picks["blurry"] is None:
        picks["blurry"] = blurry_beside(images, kinds, picks["truth"])
    # a result whose input got other data, during its run or since, fits no layer here:
    # chosen by hand
    results = [la for la in images if kinds[la] == "deblurred" and not input_replaced(la)
               and not input_changed_since(viewer, la)]
    made_from = {la: input_of(viewer, la) for la in results}
    # a result of the blurry layer first (the newest), then one not made from the truth
    own = [la for la in results if picks["blurry"] is not None
           and made_from[la] is picks["blurry"]]
    other = [la for la in results if picks["truth"] is None
             or made_from[la] is not picks["truth"]]
    picks["deblurred"] = (own[-1:] or other[:1] or results[:1] or [None])[0]
    return {role: la for role, la in picks.items() if la is not None}


def fits(role: str, layer, chosen: dict) -> bool:
    """Whether ``layer`` can be scored in ``role`` beside the other ``chosen`` layers
    (``check_pair``): a role is not filled with a layer the table would refuse (a sharp
    layer of another shape beside a fine-tuning comparison's crops)."""
    others = {r: la for r, la in chosen.items() if la is not None and r != role}
    try:
        if role == "truth":
            for other_role, other in others.items():
                check_pair(other, other_role, layer)
        elif "truth" in others:
            check_pair(layer, role, others["truth"])
    except ValueError:
        return False
    return True


def roles_to_fill(viewer, chosen: dict, held: set, added: list) -> tuple[dict, str]:
    """({role: layer}, note) to set now that the layers ``added`` came: each role still empty
    and not ``held`` (chosen by hand) takes the guess, and Deblurred moves to the newest added
    result of the chosen blurry layer unless held; the note says that it moved."""
    guess = guess_roles(viewer)
    picks = {}
    for role in ROLES:
        layer = guess.get(role)
        if (chosen.get(role) is None and role not in held and layer is not None
                and layer not in chosen.values() and layer not in picks.values()
                and fits(role, layer, {**chosen, **picks})):
            picks[role] = layer
    blurry, truth = (chosen.get(r) if chosen.get(r) is not None else picks.get(r)
                     for r in ("blurry", "truth"))
    if "deblurred" in picks and input_of(viewer, picks["deblurred"]) not in (None, blurry,
                                                                               truth):
        del picks["deblurred"]  # a result of another input than the blurry layer kept
    fresh = [la for la in added if deblur_record(la) is not None and blurry is not None
             and input_of(viewer, la) is blurry and la is not chosen.get("deblurred")
             and fits("deblurred", la, {**chosen, **picks})]
    if fresh and "deblurred" not in held:
        picks["deblurred"] = fresh[-1]
        return picks, (f"Deblurred is now {fresh[-1].name!r}, the new result of "
                       f"{blurry.name!r} (a layer chosen in the list stays chosen)")
    return picks, ""


def checked_roles(blurry, deblurred, truth) -> tuple:
    """(blurry, deblurred, truth) after checking them; ValueError says what to change: no
    ground truth, one layer that holds the ground truth and another role
    (``same_layer_line``), layers that cannot be compared plane by plane (``check_pair``)."""
    if truth is None:
        raise ValueError(NO_TRUTH)
    check_image_layer(truth, "ground truth")
    if any(la is truth for la in (blurry, deblurred)):
        raise ValueError(same_layer_line(blurry, deblurred, truth))
    for layer, role in ((blurry, "blurry"), (deblurred, "deblurred")):
        if layer is not None:
            check_image_layer(layer, role)
            check_pair(layer, role, truth)
    if blurry is None and deblurred is None:
        raise ValueError("choose a blurry and/or a deblurred layer to compare with the truth")
    return blurry, deblurred, truth


def same_layer_line(blurry, deblurred, truth) -> str:
    """Which roles hold one layer, and what to pick instead ('' when each role has its own
    layer). The ground truth scored against itself read PSNR inf, SSIM 1.0000 and a gain of
    'NaN' (inf - inf), and its difference map was all zeros, without a word; a blurry layer
    that is the deblurred one makes the gain 0 by construction."""
    shared = [name for name, la in (("Blurry", blurry), ("Deblurred", deblurred))
              if la is not None and la is truth]
    if shared:
        other = ("the deblur result in the Deblurred box" if "Deblurred" in shared else
                 "the blurry input in the Blurry box")
        pick = f" and {other}" if len(shared) == 2 else f" (or {other})"
        return (f"{', '.join(shared)} and Ground truth hold the same layer {truth.name!r}: "
                "it would be scored against itself (PSNR inf, SSIM 1, no gain); choose the "
                f"sharp reference layer in the Ground truth box{pick}")
    if blurry is not None and blurry is deblurred:
        return (f"Blurry and Deblurred hold the same layer {blurry.name!r}: both rows score "
                "the same image and the gain is 0; choose the deblur result in the "
                "Deblurred box")
    return ""


def made_from_truth_line(viewer, blurry, deblurred, truth) -> str:
    """One line when the deblurred layer was made from the ground truth (or from another
    layer marked as a sharp reference): its scores are of a deblurred sharp image."""
    source = input_of(viewer, deblurred) if deblurred is not None else None
    if source is None or truth is None or not (source is truth or own_mark(source) == "truth"):
        return ""
    other = f" {blurry.name!r}" if blurry is not None and blurry is not source else ""
    return (f"{deblurred.name!r} was made from the sharp reference {source.name!r}: its "
            "scores are of a deblurred sharp image; to judge the deblur, deblur the blurry "
            f"layer{other} and choose its result as Deblurred")


class RoleKeeper:
    """The dock's role combo boxes as they change by themselves: the roles the user chose
    (in the list, or by ``take(by_hand=True)``), which are kept while their layer is there,
    the layers added since the last ``fill`` and the note of a Deblurred that moved."""

    def __init__(self, viewer, combos: tuple) -> None:
        self.viewer = viewer
        self.combos = dict(zip(ROLES, combos, strict=True))
        self.by_hand: dict = {}  # {role: weak reference, or None: '(none)' chosen}
        self._added: list = []  # weak references
        self._note = (None, "")  # (weak reference to the Deblurred layer it is about, text)

    def chosen(self) -> dict:
        return {role: combo.value for role, combo in self.combos.items()}

    def take(self, picks: dict, by_hand: bool = False) -> None:
        for role, layer in picks.items():
            if layer is None:
                continue
            if by_hand:  # a layer not offered raises: the caller's mistake, said
                self.by_hand[role] = weakref.ref(unwrap(layer))
                self.combos[role].set_value(layer)
                self._yield_guess(role, layer)
            else:
                try:
                    self.combos[role].set_value(layer)
                except ValueError:  # not in its list (yet): the guess is left out
                    pass

    def _yield_guess(self, role: str, layer) -> None:
        """A guessed Blurry (``blurry_beside``: an unmarked layer) that is the layer now chosen
        for another role goes back to none: both rows had scored that one layer."""
        combo, none = self.combos["blurry"], self.combos["blurry"].findText("(none)")
        if role != "blurry" and "blurry" not in self.by_hand and none >= 0 \
                and combo.value is unwrap(layer):
            combo.setCurrentIndex(none)

    def picked_by_hand(self, combo) -> None:
        role = next((r for r, c in self.combos.items() if c is combo), None)
        if role is not None:
            layer = combo.value
            self.by_hand[role] = None if layer is None else weakref.ref(layer)

    def held(self) -> set:
        """The roles chosen by hand whose choice still stands."""
        return {role for role, ref in self.by_hand.items()
                if ref is None or alive_in(self.viewer, ref) is not None}

    def added(self, layer) -> None:
        self._added.append(weakref.ref(unwrap(layer)))

    def fill(self) -> None:
        """Fill the roles from the layers added since the last call (``roles_to_fill``)."""
        added = [la for la in (alive_in(self.viewer, ref) for ref in self._added)
                 if la is not None]
        self._added.clear()
        if not added:
            return
        picks, note = roles_to_fill(self.viewer, self.chosen(), self.held(), added)
        if note:
            self._note = (weakref.ref(picks["deblurred"]), note)
        self.take(picks)

    def line(self) -> str:
        """Why Deblurred moved by itself (while it shows that layer and the user has not
        picked one since), and whether it was made from the ground truth."""
        chosen = self.chosen()
        ref, note = self._note
        d = chosen["deblurred"]
        moved = note if (d is not None and ref is not None and ref() is d
                         and "deblurred" not in self.held()) else ""
        warn = made_from_truth_line(self.viewer, chosen["blurry"], d, chosen["truth"])
        return " ".join(t for t in (moved, warn) if t)


class DataWatcher:
    """Calls ``callback`` when the data of a watched layer is replaced (``layer.data = ...``)
    or changed in place and refreshed (``layer.refresh()``), so that metrics computed on the
    old pixels are not shown for the new ones; ``version(layer)`` counts its refreshes (cache
    keys hold it: a worker still on the old pixels caches under the old version).

    napari's ``refresh()`` emits ``events.set_data`` (``events.reload`` with asynchronous
    slicing), as does every re-slice (a slider move, 2D/3D, a multiscale level): a set_data at
    the layer's view of its last one (``view_of``) is a refresh, at another a re-slice, and
    that of a hidden layer shown again is its re-slice. Pixels changed in place without
    ``refresh()`` emit nothing: they are not seen. ``quiet()`` holds the refreshes napari
    makes while the dock itself sets visibility or contrast (side by side)."""

    def __init__(self, callback, dims) -> None:
        self._callback, self._dims = callback, dims
        self._layers: list = []
        self._views: dict = {}  # id(layer) -> its view at its last set_data
        self._shown: dict = {}  # id(layer) -> visible, as of its last visible event
        self._versions: dict = {}  # id(layer) -> refreshes; kept: keys of a layer chosen again
        self._quiet = False

    def watch(self, layers) -> None:
        layers = [la for la in dict.fromkeys(layers) if la is not None]
        if layers == self._layers:
            return  # the same layers: their last views stay (the next set_data is compared)
        self.release()
        self._layers = layers
        for layer in layers:
            self._views[id(layer)] = view_of(layer, self._dims)
            self._shown[id(layer)] = bool(layer.visible)
            layer.events.data.connect(self._callback)
            layer.events.set_data.connect(self._set_data)
            layer.events.reload.connect(self._refreshed)
            layer.events.visible.connect(self._visible)

    def version(self, layer) -> int:
        return self._versions.get(id(layer), 0)

    @contextmanager
    def quiet(self):
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False
            for layer in self._layers:  # what napari re-sliced meanwhile is the view now
                self._views[id(layer)] = view_of(layer, self._dims)

    def _set_data(self, event) -> None:
        layer = event.source
        view, key = view_of(layer, self._dims), id(layer)
        same = view == self._views.get(key) and self._shown.get(key, True)
        self._views[key] = view
        if same and not self._quiet:
            self._refreshed(event)

    def _visible(self, event) -> None:
        self._shown[id(event.source)] = bool(event.source.visible)

    def _refreshed(self, event) -> None:
        layer = event.source
        if any(la is layer for la in self._layers) and not self._quiet:
            self._versions[id(layer)] = self.version(layer) + 1
            self._callback(event)

    def release(self) -> None:
        from ._workers import disconnect

        for layer in self._layers:
            for name, handler in (("data", self._callback), ("set_data", self._set_data),
                                  ("reload", self._refreshed), ("visible", self._visible)):
                disconnect(getattr(layer.events, name), handler)
        self._layers = []


def view_of(layer, dims) -> tuple:
    """What napari slices ``layer`` by (its ``_SliceInput``: the dims point and margins of its
    axes, their order, 2D or 3D; a multiscale layer's level and corners too): napari emits
    ``set_data`` for a re-slice only when this changed."""
    n, off = layer.ndim, dims.ndim - layer.ndim
    view = (dims.ndisplay, tuple(a - off for a in dims.order if a >= off),
            *(tuple(v)[-n:] for v in (dims.point, dims.margin_left, dims.margin_right)))
    if getattr(layer, "multiscale", False):
        view += (layer.data_level, np.asarray(layer.corner_pixels).tobytes())
    return view
