"""Reusable control panels the docks are assembled from: the method (with its model card and
the classical options), the device, the tiling and output, and the run controls."""

from __future__ import annotations

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QWidget,
)

from ..core.options import TV_WEIGHT_MAX
from ._cards import CardView
from ._controls import button, combo, double_spin, enable_saying_why, label, spin
from ._feedback import describe_error
from ._header_reads import AxesPrefill
from ._layer_file import unread_headers_deferred
from ._layers import (
    SCOPES,
    LayerCombo,
    check_image_layer,
    input_rank,
    layer_axes_note,
    layer_data,
    layer_modality,
)
from ._methods import (
    AUTO,
    SESSION_MODELS,
    fill_method_combo,
    is_classical,
    is_psf_aware,
    method_card,
)

ALWAYS_DEVICES = ("auto", "cpu")  # offered on every machine; the rest only where they exist
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
TILE_MODES = ("model default", "auto (fits free memory)", "custom")
WINDOWS = ("cosine", "gaussian", "constant")
#: what an empty PSF box means (a box started at gaussian:1.6 ran a PSF nobody chose)
PSF_FORMS = "e.g. gaussian:1.6, a PSF TIFF (...), layer:NAME"
REQUIRED_PSF = f"required: {PSF_FORMS}"
ESTIMATED_PSF = f"empty: estimated from the image (EM, brightfield); or {PSF_FORMS}"
TICK_USE_PSF = "tick Use a PSF first"
IMAGE_TYPES = (("auto", "auto"), ("EM", "em"), ("fluorescence", "fluorescence"),
               ("brightfield", "brightfield"))


def form_layout(widget: QWidget) -> QFormLayout:
    form = QFormLayout(widget)
    form.setContentsMargins(0, 0, 0, 0)
    return form


def row(*widgets) -> QHBoxLayout:
    layout = QHBoxLayout()
    for widget in widgets:
        layout.addWidget(widget)
    return layout


class ClassicalOptions(QGroupBox):
    """PSF, Richardson-Lucy iterations and Wiener balance. For a PSF-aware network only the
    PSF shows; for 'auto' the PSF is optional (``use_psf_check``)."""

    def __init__(self, parent=None) -> None:
        super().__init__("Classical deconvolution", parent)
        self.form = form = QFormLayout(self)
        self.use_psf_check = QCheckBox("Use a PSF")
        self.use_psf_check.setToolTip(
            "auto with a PSF runs the PSF-aware network bound to it; without, the blind default "
            "network of the image type.")
        form.addRow(self.use_psf_check)
        self.psf_in_use = False  # whether the chosen method takes the PSF (set by show_for)
        self.psf_edit = QLineEdit()
        self.psf_edit.setPlaceholderText(REQUIRED_PSF)
        self.psf_tooltip = (  # set by show_for, with why where greyed
            "PSF model: gaussian:SIGMA, gaussian:SY,SX, disk:RADIUS, astig:S1,S2,ANGLE (pixels, "
            "degrees), widefield:na=1.4,wavelength=0.52,pixel=0.065 or confocal:... "
            "(micrometres), the path of a PSF TIFF, or layer:NAME for an image layer. Empty: "
            "'auto' estimates it from an EM or brightfield image; other methods refuse to run.")
        self.psf_browse = button("...", "Choose a PSF image (TIFF).")
        self.psf_browse.clicked.connect(self._choose_psf)
        form.addRow("PSF", row(self.psf_edit, self.psf_browse))
        self.iterations_spin = spin(
            0, 1000, 0, "Richardson-Lucy iterations (more: sharper and noisier). auto (the "
            "default, below 1): the count at which its blurred estimate best predicts pixels "
            "held out of the image, at most 100 (30 for a 3D PSF), found when it runs.",
            special="auto")
        form.addRow("Iterations", self.iterations_spin)
        self.tv_spin = double_spin(
            0.0, TV_WEIGHT_MAX, 0.0, "Richardson-Lucy total-variation weight: smooths noise "
            f"while iterating (0: off; 0.002-0.02 for noisy images; at most {TV_WEIGHT_MAX:g}).",
            decimals=4, step=0.001)
        form.addRow("TV weight", self.tv_spin)
        self.balance_spin = double_spin(
            0.0, 100.0, 0.0, "Wiener balance: noise-to-signal regularisation (> 0). auto "
            "(the default, at 0): chosen per image by generalised cross-validation when it runs "
            "(a 3D PSF runs 0.01).",
            decimals=4, step=0.005, special="auto")
        form.addRow("Balance", self.balance_spin)
        self.noise_scale_spin = double_spin(
            0.25, 16.0, 1.0, "PSF-aware network: x the noise level it estimates. 1 for a "
            "measured or computed PSF; about 2 smooths more when the PSF is only roughly right "
            "(fitted or guessed). Weights fine-tuned on pairs also apply the scale calibrated "
            "on their held-out region.", decimals=2, step=0.5)
        form.addRow("Noise scale", self.noise_scale_spin)

    def _choose_psf(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "PSF image", "", "TIFF (*.tif *.tiff)")
        if path:
            self.psf_edit.setText(path)

    def show_for(self, name: str | None, *, psf: str = "none") -> None:
        """Visible for a classical method (the options it reads enabled) and a network whose
        ``psf`` is 'needed' (PSF-aware) or 'optional' ('auto')."""
        classical = is_classical(name)
        self.setVisible(classical or psf != "none")
        self.setTitle("Classical deconvolution" if classical else "PSF")
        self.use_psf_check.setVisible(not classical and psf == "optional")
        for widget in (self.iterations_spin, self.tv_spin, self.balance_spin):
            widget.setVisible(classical)
            self.form.labelForField(widget).setVisible(classical)
        self.iterations_spin.setEnabled(name == "richardson_lucy")
        self.tv_spin.setEnabled(name == "richardson_lucy")
        self.balance_spin.setEnabled(name == "wiener")
        in_use = classical or psf == "needed" or (psf == "optional"
                                                  and self.use_psf_check.isChecked())
        enable_saying_why(self.psf_edit, in_use, self.psf_tooltip, TICK_USE_PSF)
        enable_saying_why(self.psf_browse, in_use, "Choose a PSF image (TIFF).", TICK_USE_PSF)
        self.psf_in_use = in_use
        network_psf = in_use and not classical  # the PSF-aware network's own option
        self.noise_scale_spin.setVisible(network_psf)
        self.form.labelForField(self.noise_scale_spin).setVisible(network_psf)


class ImagePanel(QWidget):
    """An image layer and its axes, guessed when the layer changes, refilled by its file's
    header (read in a worker) and later axis labels unless typed (``AxesPrefill``)."""

    changed = Signal()

    def __init__(self, viewer, layer_tooltip: str, axes_tooltip: str, parent=None) -> None:
        from napari.layers import Image

        super().__init__(parent)
        self.form = form_layout(self)
        # a sharp reference (the samples' ground truth) is not what a user means to deblur
        self.layer_combo = LayerCombo(viewer, (Image,), tooltip=layer_tooltip, rank=input_rank)
        self.form.addRow("Image", self.layer_combo)
        self.axes_edit = QLineEdit()
        self.axes_edit.setToolTip(axes_tooltip)
        self.form.addRow("Axes", self.axes_edit)
        # a guess that could as well be another (CZYX or TZYX): said, not silently run
        self.axes_note = label("What the guessed axes assume; type others if they are wrong.")
        self.form.addRow("", self.axes_note)
        self.axes_prefill = AxesPrefill(self.axes_edit, lambda: self.layer_combo.value,
                                        then=self._axes_set)
        self.layer_combo.currentIndexChanged.connect(self._guess_axes)
        self.axes_edit.textChanged.connect(self._show_axes_note)
        self.axes_edit.editingFinished.connect(self.changed.emit)
        self._guess_axes()

    def _guess_axes(self, *_) -> None:
        self.axes_prefill.guess()

    def _axes_set(self) -> None:
        self._show_axes_note()
        self.changed.emit()

    def _show_axes_note(self, *_) -> None:
        with unread_headers_deferred():  # a header still being read: noted when it is
            note = layer_axes_note(self.layer_combo.value, self.axes_edit.text().strip().upper())
        self.axes_note.setText(note)
        self.axes_note.setVisible(bool(note))

    @property
    def axes_assumed(self) -> str:
        """The note on guessed axes shown under the field ('' when none)."""
        return self.axes_note.text()

    def checked(self) -> tuple:
        """(layer, axes) after checking both; ValueError says what to change."""
        from ..core.axes import check_axes

        layer = self.layer_combo.value
        check_image_layer(layer)
        axes = self.axes_edit.text().strip().upper()
        check_axes(axes, tuple(layer_data(layer).shape))
        return layer, axes

    def release(self) -> None:
        self.axes_prefill.release()
        self.layer_combo.disconnect_viewer()


class MethodPanel(QWidget):
    """A method combo box (item data: method names, see ``_methods``), the chosen network's
    model card and the classical options; ``spec()`` turns the choice into a MethodSpec.

    ``image_types``: an image-type combo for 'auto'. ``network_psf``: the PSF box shows for
    PSF-aware networks too, and for 'auto' as an option. Settable (None or a callable):
    ``psf_value`` turns the PSF text into what the spec takes ('layer:NAME' into the layer's
    array). ``runs_in_3d`` (no arguments): whether 'auto' will run Richardson-Lucy in 3D
    (``core.bundled.auto_runs_in_3d``); the image-type line then says so, and ``auto_rule``
    (no arguments; ``_psf_checks.auto_rule_of``) by which rule, with its numbers.
    ``psf_error`` (no arguments): the PSF preview's one-line error or None; while there is
    one, the line says 'auto' runs nothing until the PSF is fixed, as Run refuses it."""

    changed = Signal()

    def __init__(self, title: str, tooltip: str, *, leading=(), classical: bool = True,
                 card_tooltip: str | None = None, image_types: bool = False,
                 network_psf: bool = False, parent=None) -> None:
        super().__init__(parent)
        self.form = form_layout(self)
        self._leading, self._classical, self._network_psf = tuple(leading), classical, network_psf
        self.psf_value = self.runs_in_3d = self.auto_rule = self.psf_error = None
        self._typed = False  # the PSF text just changed: not yet previewed
        self.rgb = False  # the image's kind, for the card of the network 'auto' picks
        self.combo = combo([], tooltip)
        self.form.addRow(title, self.combo)
        self.modality_combo = None
        if image_types:
            self.modality_combo = combo(IMAGE_TYPES, (
                "Image type, for the method 'auto' without a PSF: EM and brightfield run the "
                "PSF-aware network with a PSF estimated from the image, fluorescence its blind "
                "network. auto: brightfield for an RGB image, fluorescence for a grayscale "
                "one. Phase contrast and DIC images are not blurred absorption images: "
                "deblurring sharpens their halos rather than removing them."))
            self.auto_label = label("What 'auto' runs on this image.", wrap=False)
            self.form.addRow("Image type", row(self.modality_combo, self.auto_label))
            self.modality_combo.currentIndexChanged.connect(self._update)
            self.modality_picked = False  # until the user picks one, it follows the layer
            self.modality_combo.activated.connect(self._modality_was_picked)
        self.precision_combo = combo(PRECISIONS, (
            "Arithmetic of a network: auto picks bfloat16 where the CPU or GPU has it (about 4x "
            "faster on such CPUs, output within 61 dB PSNR of float32), float32 elsewhere."))
        self.form.addRow("Precision", self.precision_combo)
        self.card_view = None
        if card_tooltip is not None:
            self.card_view = CardView(card_tooltip)
            self.form.addRow("", self.card_view)
        self.classical_box = ClassicalOptions() if classical else None
        if classical:
            self.form.addRow(self.classical_box)
            self.classical_box.use_psf_check.toggled.connect(self._update)
            self.classical_box.psf_edit.textChanged.connect(self._show_card)
        self.combo.currentIndexChanged.connect(self._update)
        SESSION_MODELS.changed.connect(self.refresh)
        self.refresh()

    @property
    def name(self) -> str | None:
        return self.combo.currentData()

    def choices(self) -> list[str]:
        return [self.combo.itemData(i) for i in range(self.combo.count())]

    def set_name(self, name: str) -> None:
        index = self.combo.findData(name)
        if index < 0:
            raise ValueError(f"method {name!r} is not in the list: {self.choices()}")
        self.combo.setCurrentIndex(index)

    def refresh(self, *_) -> None:
        try:
            fill_method_combo(self.combo, leading=self._leading, classical=self._classical)
        except RuntimeError:  # the panel was deleted with its dock
            self.release()
            return
        self._update()

    @property
    def modality(self) -> str:
        return self.modality_combo.currentData() if self.modality_combo is not None else "auto"

    def set_modality(self, modality: str) -> None:
        """Choose the image type ('auto', 'em', 'fluorescence', 'brightfield'), for all layers."""
        index = self.modality_combo.findData(modality)
        if index < 0:
            raise ValueError(f"image type {modality!r}; accepted: auto, em, fluorescence, "
                             "brightfield")
        self.modality_combo.setCurrentIndex(index)
        self._modality_was_picked()

    def _modality_was_picked(self, *_) -> None:
        self.modality_picked = True

    def follow_layer(self, layer) -> None:
        """The chosen ``layer``: its image type ('auto' where none) until one is picked, RGB or
        not, and what 'auto' then runs (the Deblur and Focus QC docks)."""
        if self.modality_combo is not None and not self.modality_picked:
            index = self.modality_combo.findData(layer_modality(layer) if layer else "auto")
            self.modality_combo.setCurrentIndex(max(index, 0))
        self.set_rgb(bool(getattr(layer, "rgb", False)))
        self.show_auto_choice()

    def set_rgb(self, rgb: bool) -> None:
        """The image is RGB (or not): 'auto' may pick another network, and show its card."""
        if bool(rgb) != self.rgb:
            self.rgb = bool(rgb)
            self._update()

    def psf_need(self, name: str | None) -> str:
        """'needed', 'optional' ('auto') or 'none': whether a network of ``name`` takes a PSF."""
        if not self._network_psf:
            return "none"
        if name == AUTO:
            return "optional"
        return "needed" if is_psf_aware(name) else "none"

    @property
    def psf_text(self) -> str | None:
        """The PSF source the chosen method takes, as typed (None: it takes none)."""
        box = self.classical_box
        if box is None or not box.psf_in_use:
            return None
        return box.psf_edit.text().strip() or None

    def psf_estimated(self) -> bool:
        """Whether an empty PSF box means 'auto' estimates the PSF (``bundled.auto_psf``)."""
        from ..core.bundled import auto_psf
        from ..core.method import MethodSpec

        return self.name == AUTO and auto_psf(MethodSpec(AUTO, modality=self.modality),
                                              self.rgb) is not None

    def psf_missing(self) -> str:
        """Why the run is refused for want of a PSF ('' when it is not): the chosen method
        takes one, the box is empty and 'auto' estimates none for this image type."""
        box = self.classical_box
        if box is None or not box.psf_in_use or self.psf_text or self.psf_estimated():
            return ""
        return (f"the PSF box is empty: type a PSF ({PSF_FORMS}) or untick Use a PSF (only EM "
                "and brightfield get one estimated)" if self.name == AUTO else
                f"{self.name} needs a PSF: type one in the PSF box ({PSF_FORMS})")

    def _update(self, *_) -> None:
        name = self.name
        self.precision_combo.setEnabled(name is not None and not is_classical(name))
        if self.classical_box is not None:
            self.classical_box.show_for(name, psf=self.psf_need(name))
            self.classical_box.psf_edit.setPlaceholderText(
                ESTIMATED_PSF if self.psf_estimated() else REQUIRED_PSF)
        if self.modality_combo is not None:
            self.modality_combo.setEnabled(name == AUTO)
            self.auto_label.setText("")
        self._show_card()
        self.changed.emit()

    def _show_card(self, *typed) -> None:
        """The card of the chosen network and, for 'auto', the one it picks. ``typed``: a PSF text
        typed, 'auto' in 3D asked once it is previewed (here it computed optics PSFs: 1.8 s)."""
        from ..core.method import MethodSpec

        name, view, self._typed = self.name, self.card_view, bool(typed)
        try:  # the PSF text says whether 'auto' goes PSF-aware (whether in 3D: runs_in_3d)
            spec = MethodSpec(AUTO, psf=self.psf_text, modality=self.modality)
            self.show_auto_choice()
            if view is not None:
                view.show_card(method_card(name, self.rgb, spec) if name else None)
        except (ValueError, OSError) as error:
            if view is not None:
                view.show_message(describe_error(error))
        finally:  # else the line said no 3D rule again until the PSF text changed
            self._typed = False

    def show_auto_choice(self, *_) -> None:
        """The image-type line: what 'auto' runs on this image (blank for other methods)."""
        from ..core import bundled
        from ..core.method import MethodSpec

        if self.modality_combo is None or self.name != AUTO or not bundled.BUNDLED_WEIGHTS:
            return
        if self.psf_missing() or (self.psf_text is not None and self.psf_error is not None
                                  and self.psf_error()):
            text = "nothing until the PSF is fixed (its error is under the PSF)"
        elif not self._typed and self.runs_in_3d is not None and self.runs_in_3d():
            text = "richardson_lucy in 3D" + self._auto_rule()
        else:
            try:
                spec = MethodSpec(AUTO, psf=self.psf_text, modality=self.modality)
                text = bundled.auto_label(spec, self.rgb) + self._auto_rule()
            except ValueError as error:  # no weights for this image type: the card says why
                text = f"nothing: {str(error).split(':')[0]}"
        self.auto_label.setText(f"\u2192 {text}")

    def _auto_rule(self) -> str:
        """'\n(why)': ``auto_rule()``; '' without one, and while a PSF just typed is previewed."""
        rule = "" if self._typed or self.auto_rule is None else self.auto_rule()
        return f"\n({rule})" if rule else ""

    def psf_source(self):
        """The PSF the chosen method takes: None, a source string, or what ``psf_value`` made of
        the text (ValueError when that fails, or where a required PSF is missing)."""
        if missing := self.psf_missing():
            raise ValueError(missing)
        text = self.psf_text
        if text is None or self.psf_value is None:
            return text
        return self.psf_value(text)

    def spec(self, name: str | None = None):
        """A MethodSpec of the chosen (or the given) name with the precision and image type
        and, for a method that takes one, the PSF (and for a network, its noise scale); for a
        classical method also the iterations, TV weight and balance."""
        from ..core.method import MethodSpec
        from ..core.options import AUTO_BALANCE, AUTO_ITERATIONS

        name = name or self.name
        if name is None:
            raise ValueError("no method chosen")
        if self.classical_box is None or not is_classical(name):
            psf = self.psf_source()
            box = self.classical_box
            noise_scale = (float(box.noise_scale_spin.value())
                           if box is not None and psf is not None else 1.0)
            # the image type chooses among networks for 'auto' only (greyed out otherwise)
            spec = MethodSpec(name, psf=psf, precision=self.precision_combo.currentText(),
                              modality=self.modality if name == "auto" else "auto",
                              noise_scale=noise_scale)
        else:
            box = self.classical_box
            spec = MethodSpec(name, psf=self.psf_source(),
                              iterations=int(box.iterations_spin.value()) or AUTO_ITERATIONS,
                              tv_weight=float(box.tv_spin.value()),
                              balance=float(box.balance_spin.value()) or AUTO_BALANCE)
        # every field is filled from the dock: what this method does not read (the other
        # classical method's box, the image type beside a named network) goes back to its
        # default rather than being refused as given (MethodSpec.check)
        return spec.without_unused()

    def release(self) -> None:
        try:
            SESSION_MODELS.changed.disconnect(self.refresh)
        except (TypeError, ValueError, RuntimeError):
            pass


def device_choices() -> tuple[str, ...]:
    """The device combo's entries: auto, cpu and the devices this machine has (absent ones would
    only say 'not available'): 'cuda' and, with several GPUs, each 'cuda:N'; 'mps'."""
    import torch  # docks import no torch at module level

    names = list(ALWAYS_DEVICES)
    if torch.cuda.is_available():
        names.append("cuda")
        count = torch.cuda.device_count()
        if count > 1:
            names += [f"cuda:{i}" for i in range(count)]
    if torch.backends.mps.is_available():
        names.append("mps")
    return tuple(names)


class DeviceRow(QWidget):
    """The device combo box and what 'auto' resolves to on this machine."""

    def __init__(self, tooltip: str, parent=None) -> None:
        super().__init__(parent)
        layout = row()
        layout.setContentsMargins(0, 0, 0, 0)
        self.setLayout(layout)
        self.combo = combo(device_choices(), tooltip)
        self._gpu_tooltips()
        self.resolved_label = label("The device 'auto' resolves to on this machine.", wrap=False)
        layout.addWidget(self.combo)
        layout.addWidget(self.resolved_label)
        self.combo.currentIndexChanged.connect(self._update)
        self._update()

    @property
    def device(self) -> str:
        return self.combo.currentText()

    def _gpu_tooltips(self) -> None:
        """Each 'cuda:N' entry's tooltip names its GPU."""
        from ..core.devices import gpu_names

        for i, text in enumerate(gpu_names()):
            index = self.combo.findText(f"cuda:{i}")
            if index >= 0:
                self.combo.setItemData(index, text, Qt.ToolTipRole)

    def _update(self, *_) -> None:
        from ..core.devices import resolve_device

        name = self.device
        try:
            resolved = resolve_device(name)
            self.resolved_label.setText(f"\u2192 {resolved}" if name == "auto" else "")
        except ValueError as error:
            self.resolved_label.setText("<i>not available</i>")
            self.resolved_label.setToolTip(str(error))


class TilingPanel(QWidget):
    """Device, tile size, overlap, blend window, output dtype and scope of a deblur."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        form = form_layout(self)
        self.device_row = DeviceRow(
            "Where the work runs: auto picks CUDA, then Apple MPS, then the CPU.")
        form.addRow("Device", self.device_row)
        self.tile_mode = combo(TILE_MODES, (
            "Tile size: the method's default (from its receptive field), 'auto' sized to a "
            "quarter of the device's free memory, or a custom side in pixels."))
        self.tile_spin = spin(16, 8192, 256, "Custom tile side in pixels (used when the tile "
                              "mode is custom).", step=32)
        form.addRow("Tile", row(self.tile_mode, self.tile_spin))
        self.overlap_spin = spin(-1, 1024, -1, (
            "Overlap between tiles in pixels; 'model default' is twice the network's halo (or "
            "twice the PSF's reach for classical methods)."), special="model default")
        form.addRow("Overlap", self.overlap_spin)
        self.window_combo = combo(WINDOWS, "Blend window used where tiles overlap.")
        form.addRow("Blend window", self.window_combo)
        self.dtype_combo = combo([("float32", "float32"), ("as input", "input")], (
            "float32 keeps the input's intensity units; 'as input' rounds and clips back to the "
            "input's dtype."))
        form.addRow("Output dtype", self.dtype_combo)
        self.scope_combo = combo(SCOPES, (
            "whole stack: every plane; current slice: the plane under the dims sliders; "
            "visible field of view: that plane cropped to what the canvas shows."))
        form.addRow("Scope", self.scope_combo)
        self.tile_mode.currentIndexChanged.connect(self._update)
        self._update()

    def _update(self, *_) -> None:
        # shown only when custom: a greyed 256 read as the tile that would run (the method's
        # default ran 1024-2100 px tiles; the status says the tile each run used)
        custom = self.tile_mode.currentText() == "custom"
        self.tile_spin.setEnabled(custom)
        self.tile_spin.setVisible(custom)

    @property
    def auto_tile(self) -> bool:
        return self.tile_mode.currentText().startswith("auto")

    @property
    def scope(self) -> str:
        return self.scope_combo.currentText()

    def tiling_spec(self):
        """The TilingSpec of the controls (an 'auto' tile is sized when the method is known)."""
        from ..core.tiling_spec import TilingSpec

        custom = self.tile_mode.currentText() == "custom"
        overlap = int(self.overlap_spin.value())
        if custom and overlap >= int(self.tile_spin.value()):  # else refused once running
            raise ValueError(f"Overlap ({overlap}) must be smaller than Tile "
                             f"({int(self.tile_spin.value())}); lower it or choose auto")
        return TilingSpec(tile=int(self.tile_spin.value()) if custom else None,
                          overlap=None if overlap < 0 else overlap,
                          window=self.window_combo.currentText(),
                          device=self.device_row.device,
                          output_dtype=self.dtype_combo.currentData())


class RunControls(QWidget):
    """Run and Cancel buttons, a progress bar and a status line."""

    def __init__(self, run_text: str, run_tooltip: str, cancel_tooltip: str,
                 progress_tooltip: str, status_tooltip: str, parent=None) -> None:
        super().__init__(parent)
        layout = form_layout(self)
        self.run_button = QPushButton(run_text)
        self.run_button.setToolTip(run_tooltip)
        self.cancel_button = button("Cancel", cancel_tooltip)
        self.cancel_button.setEnabled(False)
        layout.addRow(row(self.run_button, self.cancel_button))
        self.progress_bar = QProgressBar()
        self.progress_bar.setToolTip(progress_tooltip)
        self.progress_bar.setValue(0)
        layout.addRow(self.progress_bar)
        self.status_label = label(status_tooltip)
        layout.addRow(self.status_label)

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self.progress_bar.setRange(0, 0)

    def set_done(self, ok: bool) -> None:
        self.set_running(False)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1 if ok else 0)
