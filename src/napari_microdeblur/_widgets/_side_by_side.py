"""napari's grid mode showing blurry, deblurred and ground truth left to right (names shown,
contrast linked), and the way back to the viewer as it was."""

from __future__ import annotations

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
        }
        for layer in viewer.layers:
            layer.visible = unwrap(layer) in trio
        for i, layer in enumerate(trio):
            viewer.layers.move(viewer.layers.index(layer), i)
        for layer in trio:
            if layer is not truth:
                layer.contrast_limits = tuple(truth.contrast_limits)
            layer.name_overlay.visible = True
        link_layers(trio, ("contrast_limits",))
        grid.stride = 1
        grid.shape = (1, len(trio))
        grid.enabled = True

    def leave(self) -> None:
        from napari.experimental import unlink_layers

        viewer = self.viewer
        state, self.state = self.state, None
        trio = [la for la in state["trio"] if la in viewer.layers]
        if len(trio) > 1:
            try:
                unlink_layers(trio, ("contrast_limits",))
            except (ValueError, KeyError):
                pass
        for layer in trio:
            layer.contrast_limits = state["contrast"][id(layer)]
            layer.name_overlay.visible = state["names"][id(layer)]
        order = [la for la in state["order"] if la in viewer.layers]
        for i, layer in enumerate(order):
            viewer.layers.move(viewer.layers.index(layer), i)
        for layer in viewer.layers:
            if id(unwrap(layer)) in state["visible"]:
                layer.visible = state["visible"][id(unwrap(layer))]
        enabled, stride, shape = state["grid"]
        grid = viewer_grid(viewer)
        grid.stride = stride
        grid.shape = shape
        grid.enabled = enabled
