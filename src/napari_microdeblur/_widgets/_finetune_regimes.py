"""The Fine-tune dock's starting point and training regime: fine-tune the base model or train
a new network from random weights (an architecture and one of its presets), in any regime of
``core.training`` (the papers' regimes of `microdeblur train --regime`), with layer choosers
for the image sets without partners that a regime uses (sgpn's unlabelled blurry images,
psf_cyclegan's unpaired blurry and sharp images).

A regime that learns from unpaired blurry and sharp images (psf_cyclegan) trains on those two
layers alone once one of them is chosen (``unpaired_only``), as `microdeblur train --regime
psf_cyclegan --unpaired-blurry --unpaired-sharp` without --blurry/--sharp: no Blurry/Sharp
pair of one field is needed, nor checked (the walkthrough's sharp image of another field was
refused as anti-correlated). "validate on the Blurry/Sharp pair" takes a pair as well."""

from __future__ import annotations

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import QCheckBox, QWidget

from ._controls import combo
from ._dock_fit import elided_combo
from ._layers import LayerCombo, check_image_layer, guess_layer_axes, layer_data
from ._panels import form_layout

BASE = "the base model (fine-tune)"
#: a regime's image set -> (row label, tooltip)
SOURCE_ROWS = {
    "unpaired": ("Unpaired blurry", (
        "Blurry images without sharp partners (sgpn: unlabelled images, required; "
        "psf_cyclegan: domain A, optional: without it its patches come from the pairs' inputs, "
        "drawn independently of their targets).")),
    "unpaired_sharp": ("Unpaired sharp", (
        "psf_cyclegan: sharp images of other fields (domain B), optional: without it its "
        "patches come from the pairs' targets, drawn independently of their inputs.")),
}
#: the check box that adds a Blurry/Sharp pair to an unpaired run (its validation)
PAIR_CHECK = "validate on the Blurry/Sharp pair"


def _starting_points() -> list[tuple[str, object]]:
    from ..core.registry import list_archs, list_presets

    return [(BASE, None)] + [(f"new {arch}, {preset} config (random weights)",
                              f"{arch}:{preset}")  # item data: a string Qt can find
                             for arch in list_archs() for preset in list_presets(arch)]


class RegimePanel(QWidget):
    """Start from (the base model or a new network) and the regime with its extra image sets;
    ``changed`` when the regime, an image set or the pair check box changes."""

    changed = Signal()

    def __init__(self, viewer, parent=None) -> None:
        from napari.layers import Image

        from ..core.training import get_regime, list_regimes

        super().__init__(parent)
        self.form = form_layout(self)
        # not sized to its longest entry (396 px: the dock was 512 px wide, 547 with the
        # Unpaired rows); a long entry shows elided, whole in the list and the tooltip
        self.start_combo = elided_combo(_starting_points(), (
            "Fine-tune the base model, or train a new network from random weights: an "
            "architecture with one of its configurations (paper: the paper's size; cpu_small "
            "and tiny train in minutes on a CPU)."))
        self.form.addRow("Start from", self.start_combo)
        self.regime_combo = combo(list_regimes(), (
            "Training regime (as microdeblur train --regime): supervised (content loss on the "
            "pairs), gran_gan, sgpn and psf_cyclegan (the papers' adversarial regimes: they "
            "keep their last weights, not the best by validation)."))
        for i, name in enumerate(list_regimes()):
            self.regime_combo.setItemData(i, get_regime(name).summary, Qt.ToolTipRole)
        self.form.addRow("Regime", self.regime_combo)
        self.source_combos = {}
        for source, (text, tooltip) in SOURCE_ROWS.items():
            self.source_combos[source] = LayerCombo(viewer, (Image,), none_label="(none)",
                                                    tooltip=tooltip)
            self.form.addRow(text, self.source_combos[source])
            self.source_combos[source].currentIndexChanged.connect(self._update)
        self.pair_check = QCheckBox(PAIR_CHECK)
        self.pair_check.setToolTip(
            "psf_cyclegan with Unpaired layers trains on them alone and validates on a "
            "synthetic blur of the Unpaired sharp images (held-out band). Tick to use the "
            "Blurry/Sharp pair of one field above as well (it is checked as a pair), as "
            "--blurry/--sharp of microdeblur train.")
        self.form.addRow("", self.pair_check)
        self.pair_check.toggled.connect(self._update)
        self.regime_combo.currentIndexChanged.connect(self._update)
        self._update()

    @property
    def regime(self) -> str:
        return self.regime_combo.currentData()

    @property
    def from_scratch(self) -> bool:
        return self.start_combo.currentData() is not None

    @property
    def new_network_needs_psf(self) -> bool:
        """Whether the new network 'Start from' asks for takes a PSF (e.g. wiener_unet)."""
        from ..core.registry import get_arch

        choice = self.start_combo.currentData()
        return choice is not None and bool(
            getattr(get_arch(choice.split(":")[0]).module_cls, "needs_psf", False))

    def set_regime(self, name: str) -> None:
        index = self.regime_combo.findData(name)
        if index < 0:
            raise ValueError(f"regime {name!r} is not offered")
        self.regime_combo.setCurrentIndex(index)

    def set_start(self, arch: str | None, preset: str = "tiny") -> None:
        """Start from the base model (``arch`` None) or a new ``arch`` with ``preset``."""
        index = 0 if arch is None else self.start_combo.findData(f"{arch}:{preset}")
        if index < 0:
            raise ValueError(f"no starting point {arch!r} with preset {preset!r}")
        self.start_combo.setCurrentIndex(index)

    @property
    def trains_unpaired(self) -> bool:
        """Whether the regime can learn from unpaired blurry and sharp images alone."""
        from ..core.training import get_regime

        return "unpaired_sharp" in get_regime(self.regime).extra_sources

    @property
    def unpaired_only(self) -> bool:
        """Whether the run trains on the Unpaired layers alone (no Blurry/Sharp pair): the
        regime can, one of them is chosen, and the pair is not asked for."""
        return (self.trains_unpaired and not self.pair_check.isChecked()
                and any(c.value is not None for c in self.source_combos.values()))

    def chosen_layers(self) -> list:
        """The layers chosen under the rows the regime shows (the Sharp box avoids them)."""
        from ..core.training import get_regime

        used = get_regime(self.regime).extra_sources
        return [c.value for s, c in self.source_combos.items() if s in used]

    def _update(self, *_) -> None:
        from ..core.training import get_regime

        used = get_regime(self.regime).extra_sources
        for source, widget in self.source_combos.items():
            widget.setVisible(source in used)
            self.form.labelForField(widget).setVisible(source in used)
        self.pair_check.setVisible(self.trains_unpaired)
        self.changed.emit()

    def new_network(self, channels: int):
        """(a new network with random weights, its label), or None to fine-tune the base."""
        from ..core.registry import build_model, get_arch, preset_config

        choice = self.start_combo.currentData()
        if choice is None:
            return None
        arch, preset = choice.split(":")
        config = {**preset_config(arch, preset), "in_channels": channels,
                  "out_channels": channels}
        if "spatial_dims" in get_arch(arch).config_cls.model_fields:
            config["spatial_dims"] = 2  # the dock trains on planes, as fine-tuning does
        return build_model(arch, config), f"new {arch} ({preset})"

    def check_model(self, model, label: str) -> None:
        """ValueError, in the dock's words, if the regime cannot train ``model`` (named
        ``label``): said before the run, not by the worker after the pairs were built."""
        from ..core.training import get_regime

        regime = get_regime(self.regime)
        try:
            regime(None).check_model(model)  # None: no config yet, as the CLI checks it
        except ValueError as error:
            if regime.learns_psf:
                raise ValueError(
                    f"the {self.regime} regime learns the PSF layer of a psf_cyclegan network, "
                    f"which {label!r} has not; choose a psf_cyclegan base model, 'Start from' "
                    "a new psf_cyclegan network, or another regime") from None
            raise ValueError(f"the {self.regime} regime cannot train {label!r}: {error}; "
                             "choose another base model or regime") from None

    def image_sets(self, model=None, label: str = "") -> dict:
        """The request's ``unpaired`` / ``unpaired_sharp`` of the chosen layers (ValueError:
        a set the regime needs is missing, or the regime cannot train ``model``)."""
        from ..core.finetune import ImageSet
        from ..core.training import get_regime

        if model is not None:
            self.check_model(model, label)
        regime = get_regime(self.regime)
        sets = {}
        for source in regime.extra_sources:
            layer = self.source_combos[source].value
            if layer is None:
                if source in regime.required_sources:
                    raise ValueError(
                        f"the {self.regime} regime needs blurry images without partners: "
                        f"choose a layer under '{SOURCE_ROWS[source][0]}' (it does not draw "
                        "them from the training pairs)")
                continue
            check_image_layer(layer, SOURCE_ROWS[source][0].lower())
            sets[source] = ImageSet(f"layer {layer.name!r}", [layer_data(layer)],
                                    guess_layer_axes(layer) or None)
        return sets

    def release(self) -> None:
        for widget in self.source_combos.values():
            widget.disconnect_viewer()
