"""What keeps a dock usable on a laptop screen and from the keyboard.

``ElidedCombo``: a combo box sized to a few characters, not to its longest item, whose closed
box shows its choice elided (in the middle by default, as napari's layer list does) instead of
cut off at the right: two layer names that differ only at their end ('..._ch1_blurred',
'..._ch2_blurred') looked the same, and a box sized to its longest item widened its dock. The
list shows the items whole; the tooltip names the choice above the box's description.

``tab_in_order`` and ``press_with_return``: Tab through controls made after their neighbours
in the order they are seen, and Return presses a focused button, as Space does (outside a
dialog, Qt's buttons take Space only)."""

from __future__ import annotations

from qtpy.QtCore import QEvent, Qt
from qtpy.QtGui import QPalette
from qtpy.QtWidgets import (
    QComboBox,
    QPushButton,
    QStyle,
    QStyleOptionComboBox,
    QStylePainter,
    QWidget,
)

#: pixels the style keeps clear at either end of the box's text (its label is drawn inset)
TEXT_INSET = 2


class ElidedCombo(QComboBox):
    """``elide``: which part of a long choice gives way (``Qt.ElideMiddle`` keeps its start and
    end); ``min_length``: the characters the box is at least wide enough for."""

    def __init__(self, parent=None, *, elide=Qt.ElideMiddle, min_length: int = 12) -> None:
        super().__init__(parent)
        self._elide = elide
        self._description = ""
        self.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(min_length)
        self.currentIndexChanged.connect(self._name_choice)

    def shown_text(self) -> str:
        """The text the closed box shows: its choice, elided to the room it has."""
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        return self._elided(option)

    def _elided(self, option: QStyleOptionComboBox) -> str:
        room = self.style().subControlRect(QStyle.CC_ComboBox, option,
                                           QStyle.SC_ComboBoxEditField, self)
        width = room.width() - 2 * TEXT_INSET
        if not option.currentIcon.isNull():
            width -= option.iconSize.width() + 4  # the style draws the icon before the text
        return self.fontMetrics().elidedText(option.currentText, self._elide, max(width, 0))

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        # QComboBox.paintEvent, with the label's text elided
        painter = QStylePainter(self)
        painter.setPen(self.palette().color(QPalette.Text))
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.CC_ComboBox, option)
        option.currentText = self._elided(option)
        painter.drawControl(QStyle.CE_ComboBoxLabel, option)

    def setToolTip(self, text: str) -> None:  # noqa: N802 - Qt override
        """``text`` is the box's description; the tooltip shows it under the choice's name."""
        self._description = text or ""
        self._name_choice()

    def _name_choice(self, *_) -> None:
        chosen = self.currentText()
        super().setToolTip("\n\n".join(t for t in (chosen, self._description) if t))

    def event(self, event) -> bool:
        # an item renamed in place (a layer renamed) changes no index: named when shown
        if event.type() == QEvent.ToolTip:
            self._name_choice()
        return super().event(event)


def elided_combo(items, tooltip: str, *, elide=Qt.ElideRight, min_length: int = 20):
    """An ``ElidedCombo`` of ``items`` (texts, or (text, data) pairs), as ``_controls.combo``
    makes a combo box of them."""
    widget = ElidedCombo(elide=elide, min_length=min_length)
    for item in items:
        text, data = item if isinstance(item, tuple) else (item, item)
        widget.addItem(text, data)
    widget.setToolTip(tooltip)
    return widget


def tab_in_order(*widgets: QWidget) -> None:
    """Tab goes from each of ``widgets`` to the next (Qt's order is that of making them)."""
    for before, after in zip(widgets, widgets[1:], strict=False):
        QWidget.setTabOrder(before, after)


def press_with_return(widget: QWidget, tab_only: QPushButton | None = None) -> None:
    """Return (and Enter) presses whichever of ``widget``'s push buttons has the focus; Return
    in a text field still presses none (that takes a dialog's default button). ``tab_only``
    (Run) takes the focus by Tab alone, not by a click: the dock moves the focus from a
    focused Run to Cancel, and a mouse click had focused it too, so napari's Space (pan) or a
    Return after clicking Run cancelled the run."""
    for button in widget.findChildren(QPushButton):
        button.setAutoDefault(True)
    if tab_only is not None:
        tab_only.setFocusPolicy(Qt.TabFocus)
