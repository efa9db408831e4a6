"""A dock's content in a scroll area: napari stacks the docks in one column, so the main
window was at least as tall as all of them together (Deblur + Fine-tune: 1733 px, the four
docks: 2943 px on a 1080-px screen, with the bottom controls and napari's notifications off
screen). In a scroll area a dock asks for a small height and scrolls its content instead;
its width still fits the content, so no horizontal scroll bar is needed."""

from __future__ import annotations

from qtpy.QtCore import QEvent, QSize, Qt
from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

#: the least height a dock asks for (pixels): a few rows of controls stay in view. At 160 the
#: four docks together made the window at least 792 px tall, more than a 768-px screen
MIN_DOCK_HEIGHT = 120


class DockScroll(QScrollArea):
    """A scroll area whose minimum width is its content's (plus the vertical scroll bar), so
    its content never scrolls sideways, and whose minimum height is ``MIN_DOCK_HEIGHT``."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)

    def setWidget(self, widget: QWidget) -> None:  # noqa: N802 - Qt override
        super().setWidget(widget)
        widget.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        # the content's layout changed (a longer text, a panel shown): the width it needs may
        # have changed, which a scroll area does not pass on to the dock by itself
        if obj is self.widget() and event.type() == QEvent.LayoutRequest:
            self.updateGeometry()
        return super().eventFilter(obj, event)

    def _width_for(self, content_width: int) -> int:
        return content_width + self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        body = self.widget()
        width = body.minimumSizeHint().width() if body is not None else 0
        return QSize(self._width_for(width), MIN_DOCK_HEIGHT)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        # the whole content where the screen has room (napari's dock area shares the rest)
        body = self.widget()
        if body is None:
            return super().sizeHint()
        hint = body.sizeHint()
        return QSize(self._width_for(hint.width()), hint.height() + 2 * self.frameWidth())


def scroll_body(dock: QWidget) -> QVBoxLayout:
    """Give ``dock`` a scroll area filling it and return the layout of the content inside
    (what the dock lays its panels out in)."""
    outer = QVBoxLayout(dock)
    outer.setContentsMargins(0, 0, 0, 0)
    area = DockScroll(dock)
    body = QWidget()
    area.setWidget(body)
    outer.addWidget(area)
    dock.scroll_area = area
    return QVBoxLayout(body)
