"""The Fine-tune dock's "Small-data options" (issue 14): which weights train, replay of the
starting network's synthetic training mixture, L2-SP, intensity jitter, flips and rotations and
the gain the trained weights must show, as `microdeblur finetune` offers them (--trainable,
--replay, --replay-images, --anchor-weight, --intensity-jitter, --no-augment, --min-gain), with
its defaults. A group folded away until opened; paired runs only ("Adapt to this image" refuses
these options, as `finetune --self` does). The values go into the ``FinetuneRequest``
(``request_options``) and are checked by the core's own checks before the run starts
(``check_options``)."""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import QCheckBox, QVBoxLayout, QWidget

from ..core.job_defaults import (
    DEFAULT_ANCHOR_WEIGHT,
    DEFAULT_INTENSITY_JITTER,
    DEFAULT_MIN_GAIN_DB,
    DEFAULT_REPLAY,
    DEFAULT_TRAINABLE,
)
from ._controls import button, combo, double_spin
from ._feedback import in_dock_words
from ._layers import LayerCombo, check_image_layer, guess_layer_axes, layer_data
from ._panels import form_layout

TITLE = "Small-data options"
FOLDED, OPENED = "\u25b8", "\u25be"  # the arrows of a folded and an opened group
#: --trainable's choices as the dock names them
TRAINABLE_CHOICES = (("all weights", "all"), ("late half (nearest the output)", "late"),
                     ("biases and normalisation only", "norm-bias"))
TARGETS = "(the training targets)"
ADVICE = ("On the measured EM test (README, Small-data options) the defaults did best; replay "
          "and anchor weight are the ones to try first for a longer run on fewer pairs.")
#: what the dock says, before the core's check, of Replay images chosen with Replay share off
REPLAY_OFF = ("Replay images is chosen but Replay share is off: set Replay share (e.g. 0.25), "
              "or choose no Replay images")


def layer_planes(layer) -> list[np.ndarray]:
    """An image layer as the sharp (C, Y, X) planes ``FinetuneRequest.replay_images`` takes
    (a z-stack or time series gives one per plane; a grayscale plane has one channel)."""
    from ..core.axes import stack_planes

    check_image_layer(layer, "replay images")
    stack, _, plane_axes = stack_planes(np.asarray(layer_data(layer)), guess_layer_axes(layer))
    return [plane if len(plane_axes) == 3 else plane[None] for plane in stack]


class SmallDataOptions(QWidget):
    """The folded group: a button that opens it, and its form."""

    def __init__(self, viewer, parent: QWidget | None = None) -> None:
        from napari.layers import Image

        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.toggle = button(f"{TITLE} {FOLDED}", "Show or hide the options for fine-tuning on "
                             f"a few pairs. {ADVICE}", checkable=True)
        layout.addWidget(self.toggle)
        self.body = QWidget()
        form = form_layout(self.body)
        layout.addWidget(self.body)
        self.trainable_combo = combo(TRAINABLE_CHOICES, (
            "Which weights learn. All (the default, best on the EM test); the late half, "
            "nearest the output; or only biases and normalisation (under 1 % of the weights): "
            "the less that learns, the more the network keeps what it knew, and the less it "
            "adapts. For a few pairs that over-fit; supervised regime only."))
        self.trainable_combo.setCurrentIndex(
            [key for _, key in TRAINABLE_CHOICES].index(DEFAULT_TRAINABLE))
        self.replay_spin = double_spin(0.0, 0.95, DEFAULT_REPLAY, (
            "Share of each batch made of synthetic pairs: sharp images blurred and noised as "
            "the base model was trained (its model card's mixture), so that a long run on a "
            "few pairs does not forget its broad training. 0: off (the default). Try 0.25 for a "
            "longer run on few pairs. Blind networks in the supervised regime, Batch size 2 "
            "or more."), decimals=2, step=0.05, special="off")
        self.replay_combo = LayerCombo(viewer, (Image,), none_label=TARGETS, tooltip=(
            "Sharp images the replay blurs: best, images of the kind the base model was "
            "trained on; none chosen, your training targets (never the held-out band). Each "
            "plane at least Patch size on each side, with the pairs' channels."))
        self.anchor_spin = double_spin(0.0, 10.0, DEFAULT_ANCHOR_WEIGHT, (
            "L2-SP: how strongly the weights are pulled back toward the base model's, so that "
            "it keeps what it knew. 0: off (the default). Try 0.0001 to 0.001 for a longer run "
            "on few pairs; larger values learned less on the EM test."),
            decimals=6, step=0.0001, special="off")
        self.jitter_spin = double_spin(0.0, 0.95, DEFAULT_INTENSITY_JITTER, (
            "Random brightness change of each patch pair (gain 1 +/- this, offset +/- half of "
            "it, input and target alike), so that the network does not tie itself to your "
            "images' exposure. 0: off."), decimals=2, step=0.05, special="off")
        self.augment_check = QCheckBox("flips and rotations")
        self.augment_check.setChecked(True)
        self.augment_check.setToolTip(
            "Flip and turn patches by 90 degrees: more variety from a few pairs. Untick where "
            "orientation matters (e.g. a PSF or scan direction that is not symmetric).")
        self.min_gain_spin = double_spin(0.0, 100.0, DEFAULT_MIN_GAIN_DB, (
            "Keep the fine-tuned weights only if they beat the base model on the held-out "
            "band by this many dB; otherwise the base is kept unchanged (a smaller gain is "
            "within the validation's noise)."), decimals=2, step=0.05)
        for text, widget in (("Trainable", self.trainable_combo),
                             ("Replay share", self.replay_spin),
                             ("Replay images", self.replay_combo),
                             ("Anchor weight", self.anchor_spin),
                             ("Intensity jitter", self.jitter_spin),
                             ("Augment", self.augment_check),
                             ("Min gain (dB)", self.min_gain_spin)):
            form.addRow(text, widget)
        self.toggle.toggled.connect(self._fold)
        self._fold(False)

    def _fold(self, opened: bool) -> None:
        self.body.setVisible(opened)
        self.toggle.setText(f"{TITLE} {OPENED if opened else FOLDED}")

    def request_options(self) -> dict:
        """The ``FinetuneRequest`` fields of the group (ValueError: a bad Replay images layer)."""
        layer = self.replay_combo.value
        return {"trainable": self.trainable_combo.currentData(),
                "replay": float(self.replay_spin.value()),
                "replay_images": None if layer is None else layer_planes(layer),
                "anchor_weight": float(self.anchor_spin.value()),
                "intensity_jitter": float(self.jitter_spin.value()),
                "augment": self.augment_check.isChecked(),
                "min_gain_db": float(self.min_gain_spin.value())}

    def release(self) -> None:
        self.replay_combo.disconnect_viewer()


def check_options(req) -> None:
    """Refuse a request's small-data options before any work, with the checks its job makes
    (``finetune_request.check_request``, the training config, ``finetune_data.replay_source``
    on one replay plane: all share its size and channels); ValueError in the dock's words
    (``in_dock_words``)."""
    from ..core import training
    from ..core.finetune_data import card_mixture, replay_source
    from ..core.finetune_request import check_request

    if req.replay_images is not None and req.replay == 0:  # the core says a wrong list
        raise ValueError(REPLAY_OFF)
    try:
        check_request(req)
        training.TrainingConfig.from_options(dict(  # as finetune._prepare checks the numbers
            steps=req.steps, batch_size=req.batch_size, patch=req.patch, lr=req.lr,
            seed=req.seed, anchor_weight=req.anchor_weight, regime=req.regime,
            min_gain_db=req.min_gain_db, trainable=req.trainable))
        probe = list(req.replay_images or [])[:1]
        if req.replay > 0 and (probe or card_mixture(req.base_card)[0] is None):
            # no plane given: the card's mixture is all there is to check (the targets fit)
            replay_source(req.base_card, probe, seed=req.seed, patch=req.patch,
                          channels=int(getattr(req.model, "in_channels", 1)))
    except ValueError as error:
        raise ValueError(in_dock_words(str(error))) from None
