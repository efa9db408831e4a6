"""Small Qt controls the docks share: spin boxes, buttons and labels made in one call (every
control with its tooltip), and a spin box for values that span decades."""

from __future__ import annotations

from qtpy.QtGui import QValidator
from qtpy.QtWidgets import QComboBox, QDoubleSpinBox, QLabel, QPushButton, QSpinBox


def spin(minimum: int, maximum: int, value: int, tooltip: str, *, step: int | None = None,
         suffix: str = "", special: str = "") -> QSpinBox:
    """An integer spin box; ``special`` is the text shown at the minimum (e.g. 'auto')."""
    box = _ranged(QSpinBox(), minimum, maximum, value, tooltip, step, suffix)
    if special:
        box.setSpecialValueText(special)
    return box


def double_spin(minimum: float, maximum: float, value: float, tooltip: str, *, decimals: int,
                step: float | None = None, suffix: str = "", special: str = ""
                ) -> QDoubleSpinBox:
    """A decimal spin box; ``special`` is the text shown at the minimum (e.g. 'auto')."""
    box = QDoubleSpinBox()
    box.setDecimals(decimals)  # before the range and value, which it rounds
    box = _ranged(box, minimum, maximum, value, tooltip, step, suffix)
    if special:
        box.setSpecialValueText(special)
    return box


def _ranged(box, minimum, maximum, value, tooltip: str, step, suffix: str):
    """``box`` (a QSpinBox or QDoubleSpinBox) with its range, step, value, suffix and tooltip."""
    box.setRange(minimum, maximum)
    if step is not None:
        box.setSingleStep(step)
    box.setValue(value)
    if suffix:
        box.setSuffix(suffix)
    box.setToolTip(tooltip)
    return box


def button(text: str, tooltip: str, *, checkable: bool = False) -> QPushButton:
    widget = QPushButton(text)
    widget.setToolTip(tooltip)
    widget.setCheckable(checkable)
    return widget


def enable_saying_why(widget, enabled: bool, tooltip: str, why: str) -> None:
    """Enable or grey ``widget``; greyed, its tooltip ends with ``why`` (what to do first)."""
    widget.setEnabled(enabled)
    widget.setToolTip(tooltip if enabled else f"{tooltip} ({why})")


def label(tooltip: str, text: str = "", *, wrap: bool = True) -> QLabel:
    widget = QLabel(text)
    widget.setWordWrap(wrap)
    widget.setToolTip(tooltip)
    return widget


def combo(items, tooltip: str) -> QComboBox:
    """A combo box of ``items``: texts, or (text, data) pairs."""
    widget = QComboBox()
    for item in items:
        text, data = item if isinstance(item, tuple) else (item, item)
        widget.addItem(text, data)
    widget.setToolTip(tooltip)
    return widget


def set_checked_quietly(widget, checked: bool) -> None:
    """Check or uncheck a button without emitting its signals."""
    widget.blockSignals(True)
    widget.setChecked(checked)
    widget.blockSignals(False)


class LogSpinBox(QDoubleSpinBox):
    """A spin box for positive values that span decades (focus scores): shown with 4
    significant digits (scientific when small), typed in any float notation, and stepped by a
    factor of 10^(1/10) per arrow press (ten steps a decade). ``special``: the text shown at 0
    (e.g. 'auto', as the other docks' spin boxes say it), which may be typed too."""

    STEPS_PER_DECADE = 10

    def __init__(self, parent=None, floor: float = 1e-6, special: str = "") -> None:
        super().__init__(parent)
        self.setSpecialValueText(special)
        self.floor = floor  # where stepping up from 0 starts
        self.setDecimals(15)  # QDoubleSpinBox rounds to ``decimals``: keep small values whole
        self.setRange(0.0, 1e9)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt override
        return f"{value:.4g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 - Qt override
        if self._is_special(text):
            return self.minimum()
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def _is_special(self, text: str) -> bool:
        return bool(self.specialValueText()) and \
            text.strip().lower() == self.specialValueText().lower()

    def validate(self, text: str, pos: int):  # Qt override
        if self._is_special(text):
            return QValidator.Acceptable, text, pos
        s = text.strip().lower()
        try:
            value = float(s)
        except ValueError:
            partial = s in ("", ".", "-", "+") or s.endswith(("e", "e-", "e+"))
            return (QValidator.Intermediate if partial else QValidator.Invalid), text, pos
        ok = self.minimum() <= value <= self.maximum()
        return (QValidator.Acceptable if ok else QValidator.Intermediate), text, pos

    def fixup(self, text: str) -> str:  # Qt override
        return self.textFromValue(self.value())

    def stepBy(self, steps: int) -> None:  # noqa: N802 - Qt override
        value = self.value()
        if value <= 0:
            if steps > 0:
                self.setValue(self.floor)
            return
        self.setValue(value * 10 ** (steps / self.STEPS_PER_DECADE))
