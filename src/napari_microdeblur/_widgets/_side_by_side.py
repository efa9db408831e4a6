"""napari's grid mode showing blurry, deblurred and ground truth left to right (names shown,
contrast linked), and the way back to the viewer as it was.

What the Compare & QC dock adds while the grid is on goes where a biologist looks for it: a
difference map, an image to read beside the others, in a column of its own right of the
ground truth (``add_panel``); a rectangle (a QC region, a tile grid), which marks places on
the image and is moved over it, after the grid is left (``SideBySideMixin.leave_grid_for``):
napari's grid gives every shown layer a cell, so either had landed on the blurry panel."""

from __future__ import annotations

from ._controls import set_checked_quietly
from ._feedback import describe_error, notify_error, notify_info
from ._layers import unwrap


def viewer_grid(viewer):
    """napari >= 0.9 keeps the grid on the canvas; older versions on the viewer."""
    canvas = getattr(viewer, "canvas", None)
    return canvas.grid if canvas is not None and hasattr(canvas, "grid") else viewer.grid


class SideBySide:
    """Grid mode for a trio of layers; ``leave()`` restores order, visibility, names, contrast
    and the grid settings as they were before ``enter``."""

    def __init__(self, viewer) -> None:
        self.viewer = viewer
        self.state: dict | None = None

    @property
    def active(self) -> bool:
        return self.state is not None

    def show(self, trio: list) -> None:
        """``enter`` with ``trio``; in the grid with other layers (a role changed while it was
        on: the table scored the new layer, the grid showed the old one and hid the new),
        ``leave`` first, so the viewer is restored as it was before the grid."""
        if self.active:
            shown = self.state["trio"]
            if len(shown) == len(trio) and all(a is b for a, b in zip(shown, trio)):
                return
            self.leave()
        self.enter(trio)

    def enter(self, trio: list) -> None:
        from napari.experimental import link_layers

        viewer, truth = self.viewer, trio[-1]
        grid = viewer_grid(viewer)
        self.state = {
            "grid": (grid.enabled, grid.stride, tuple(grid.shape)),
            "order": list(viewer.layers),
            "visible": {id(unwrap(la)): la.visible for la in viewer.layers},
            "names": {id(la): la.name_overlay.visible for la in trio},
            "contrast": {id(la): tuple(la.contrast_limits) for la in trio},
            "trio": trio,
            "panels": [],  # layers added while on (add_panel), right of the trio
        }
        # each visibility change, move and grid setting rebuilds napari's scene graph (a
        # grid of cells while the grid is on: ~0.1-0.3 s each with 2048^2 layers): only
        # what changes is set, the trio moved in one reorder, the grid turned on last
        set_visible(viewer, lambda layer: unwrap(layer) in trio)
        bring_to_front(viewer, trio)
        for layer in trio:
            if layer is not truth:
                layer.contrast_limits = tuple(truth.contrast_limits)
            layer.name_overlay.visible = True
        # only the links made here are undone on leaving: a contrast link the user had made
        # between two of the trio stays (link_layers skips it and returns the new ones)
        self.state["links"] = link_layers(trio, ("contrast_limits",))
        grid.stride = 1
        grid.shape = (1, len(trio))
        grid.enabled = True

    def add_panel(self, layer) -> None:
        """Show ``layer``, added while the grid is on, in a column of its own right of the
        others, its name shown (its own contrast: not linked). Placed by its index, as napari
        before 0.9 placed hidden layers too; ``leave`` hides its name again and leaves it
        shown, after the layers that were there before."""
        viewer, state = self.viewer, self.state
        state["names"].setdefault(id(layer), layer.name_overlay.visible)
        # a panel removed meanwhile leaves no empty column
        state["panels"] = [la for la in state["panels"] if la in viewer.layers] + [layer]
        layer.name_overlay.visible = True
        columns = len(state["trio"]) + len(state["panels"])
        viewer.layers.move(viewer.layers.index(layer), columns - 1)
        viewer_grid(viewer).shape = (1, columns)

    def leave(self) -> None:
        viewer = self.viewer
        state, self.state = self.state, None
        trio = [la for la in state["trio"] if la in viewer.layers]
        unlink_own(state.get("links", ()))
        for layer in trio:
            layer.contrast_limits = state["contrast"][id(layer)]
        for layer in trio + [la for la in state["panels"] if la in viewer.layers]:
            layer.name_overlay.visible = state["names"][id(layer)]
        enabled, stride, shape = state["grid"]
        grid = viewer_grid(viewer)
        # the grid off first: order and visibility restored in it rebuilt its cells at each
        # change (1-2 s with 2048^2 layers); a grid the user had on is turned on again last
        grid.enabled = False
        bring_to_front(viewer, [la for la in state["order"] if la in viewer.layers])
        visible = state["visible"]
        set_visible(viewer, lambda layer: visible.get(id(unwrap(layer)), layer.visible))
        grid.stride = stride
        grid.shape = shape
        grid.enabled = enabled


def unlink_own(links) -> None:
    """Undo the links ``link_layers`` made (its keys: weak references to two layers and the
    attribute), pair by pair; links made before, by the user, stay. Unlinking the whole trio
    had also cut a contrast link the user had made between the ground truth and the blurry
    layer before turning Side by side on."""
    from napari.experimental import unlink_layers

    pairs = {(frozenset((a, b)), attribute) for a, b, attribute in links}
    for pair, attribute in pairs:
        layers = [ref() for ref in pair]
        if len(layers) == 2 and all(layer is not None for layer in layers):
            unlink_layers(layers, (attribute,))


def set_visible(viewer, shown) -> None:
    """Each layer of ``viewer`` visible where ``shown(layer)``; set only where it changes
    (napari refreshes a layer made visible, and rebuilds its scene graph, even unchanged)."""
    for layer in viewer.layers:
        if layer.visible != bool(shown(layer)):
            layer.visible = bool(shown(layer))


def bring_to_front(viewer, layers: list) -> None:
    """``layers`` first in ``viewer``'s list, in their order, the others after them as they
    were: in one reorder (napari redraws its scene graph at each), none where they are."""
    now = list(viewer.layers)[:len(layers)]
    if len(now) != len(layers) or any(unwrap(a) is not unwrap(b) for a, b in zip(now, layers)):
        viewer.layers.move_multiple([viewer.layers.index(la) for la in layers], 0)


class SideBySideMixin:
    """The Compare & QC dock's Side by side button; the dock has ``side_by_side``
    (``SideBySide``), ``side_button``, ``layers()`` and ``_data_watch``."""

    def _side_toggled(self, on: bool) -> None:
        try:
            self.set_side_by_side(on)
        except ValueError as error:
            notify_error(describe_error(error))
            self.set_side_by_side(False)  # a grid of roles no longer valid goes too

    def set_side_by_side(self, on: bool) -> None:
        """Grid mode with blurry, deblurred, truth left to right (names shown, contrast linked;
        the layers chosen now, when other layers are shown), or back to the viewer as it was."""
        # the layers it shows and links refresh: not a change of their pixels
        with self._data_watch.quiet():
            if on:
                self.side_by_side.show([layer for layer in self.layers() if layer is not None])
            elif self.side_by_side.active:
                self.side_by_side.leave()
        if self.side_button.isChecked() != on:
            set_checked_quietly(self.side_button, on)

    def leave_grid_for(self, layer) -> None:
        """Side by side off, said, once ``layer`` (a rectangle drawn over the image) is added:
        in the grid it had a cell of its own, with no image under it, or wrapped onto the
        blurry panel; it is shown on the layers it marks, where it can be moved."""
        if self.side_by_side.active:
            self.set_side_by_side(False)
            notify_info(f"Side by side turned off to show {layer.name!r} over the image; "
                        "press Side by side again to compare the layers in the grid")
