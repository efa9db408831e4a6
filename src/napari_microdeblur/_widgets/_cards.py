"""Model cards in the docks: a one-line headline (architecture, image type, validation PSNR)
and, behind a Details toggle, the summary (architecture, image type, training data and its
licence, validation PSNR, pixel size where stated, speed) and the whole card. Folded by default:
the unfolded summary (about 250 px) pushed Run and its status line below a 768-px screen."""

from __future__ import annotations

import html

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QHBoxLayout, QPushButton, QTextBrowser, QVBoxLayout, QWidget

from ._controls import label

SUMMARY_TEXT_CHARS = 140  # training data longer than this is cut at a word
DETAILS_HEIGHT = 220  # pixels; the whole card scrolls inside, the controls stay in view


def _shorten(text: str, limit: int = SUMMARY_TEXT_CHARS) -> str:
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "\u2026"


def training_data(card) -> str:
    """Bundled weights' training sets named whole (their card's text, cut at 140 characters,
    ended after its first set); other cards' text, cut at a word."""
    from ..core.catalog import card_training_sets

    sets = card_training_sets(card)
    if sets:
        return f"training splits of {', '.join(sets)} (the whole text under Details)"
    return _shorten(card.training_data) or "not stated"


#: the network's own validation PSNR, first found wins: a card that also scores other methods
#: on its planes (psf_cyclegan: Richardson-Lucy with each PSF) names it val_psnr_network. A bare
#: 'psnr' does not say what it was measured on.
PSNR_KEYS = ("val_psnr", "val_psnr_network")
#: CPU speed in megapixels/s, first found wins, with what it was measured on: the training
#: scripts of the PSF-aware networks write it for a 1024 x 1024 image
SPEED_KEYS = (("cpu_inference_megapixels_per_s", ""),
              ("cpu_megapixels_per_s_1024", ", 1024 x 1024 image"))


def _first_number(metrics: dict, keys):
    return next((metrics[k] for k in keys if isinstance(metrics.get(k), (int, float))), None)


def validation_psnr(card) -> str:
    metrics = card.metrics or {}
    value = _first_number(metrics, PSNR_KEYS)
    if value is None:
        return "not recorded"
    # a fine-tune's card also keeps its starting weights' figure: beside the input's, a
    # result below either says it makes images worse
    others = [f"{word} {metrics[k]:.2f} dB" for word, k in (("start", "val_psnr_start"),
                                                            ("input", "val_psnr_input"))
              if isinstance(metrics.get(k), (int, float))]
    return f"{value:.2f} dB" + (f" ({', '.join(others)})" if others else "")


def pixel_size(card) -> str | None:
    """The pixel size the weights were trained at (fine-tuned cards state it), or None."""
    value = (card.metrics or {}).get("pixel_size_um")
    return f"{value:.4g} um (of the training images)" if isinstance(value, (int, float)) \
        else None


def speed(card) -> str:
    metrics = card.metrics or {}
    for key, measured_on in SPEED_KEYS:
        value = metrics.get(key)
        if isinstance(value, (int, float)):
            return f"{value:.2g} megapixels/s on a CPU (the card's figure{measured_on})"
    return "not measured"


def _rows_html(rows) -> str:
    return "<br>".join(f"<b>{html.escape(k)}</b>: {html.escape(str(v))}" for k, v in rows)


def card_summary(card) -> str:
    """Rich text: the six facts a user chooses weights by (and the pixel size trained at,
    where the card states it)."""
    from ..core.catalog import card_image_type  # the catalog imports torch: only when shown

    if card is None:
        return ""
    return _rows_html([
        ("architecture", f"{card.arch} ({card.in_channels}\u2192{card.out_channels} ch, "
                         f"{card.spatial_dims}D)"),
        ("image type", card_image_type(card)),
        ("training data", training_data(card)),
        ("licence", card.license),
        ("validation PSNR", validation_psnr(card)),
        *([("pixel size", size)] if (size := pixel_size(card)) else []),
        ("speed", speed(card)),
    ])


def card_headline(card) -> str:
    """Rich text, one line: the architecture, the image type's first clause and the
    validation PSNR (what the folded card shows; its tooltip says what the figure is)."""
    from ..core.catalog import card_image_type  # the catalog imports torch: only when shown

    if card is None:
        return ""
    kind = card_image_type(card).split(";")[0]
    psnr = validation_psnr(card).split(" (")[0]  # the start/input figures are under Details
    return html.escape(f"{card.arch}, {kind}, {psnr} PSNR")


def card_details(card) -> str:
    """Rich text: every field of the card."""
    if card is None:
        return ""
    metrics = ", ".join(
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
        for k, v in (card.metrics or {}).items()
    )
    rows = [
        ("training data", card.training_data or "not stated"),
        ("degradation", card.degradation or "not stated"),
        ("metrics", metrics or "none recorded"),
        ("training", card.training or "not recorded"),
        ("config", card.config),
        ("normalization", card.normalization),
        ("sha256", card.sha256 or "not saved yet"),
        ("source", card.source or "this session"),
        ("software version", card.software_version),
    ]
    if card.description:
        rows.append(("notes", card.description))
    return _rows_html(rows)


class CardView(QWidget):
    """A card's one-line headline and a Details button that shows or hides the summary and
    the whole card (``summary_label`` holds the summary's text, shown or not)."""

    def __init__(self, tooltip: str, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.headline_label = label(f"{tooltip} In one line: the architecture, image type "
                                    "and validation PSNR; Details shows the rest.")
        self.headline_label.setTextFormat(Qt.RichText)
        self.summary_label = label(tooltip)
        self.summary_label.setTextFormat(Qt.RichText)
        self.details_button = QPushButton("Details")
        self.details_button.setCheckable(True)
        self.details_button.setToolTip("Show the model card: training data, licence, speed, "
                                       "then every field (training, metrics, config).")
        self.details_label = QTextBrowser()
        self.details_label.setToolTip("The whole model card.")
        self.details_label.setMaximumHeight(DETAILS_HEIGHT)
        top = QHBoxLayout()
        top.addWidget(self.headline_label, 1)
        top.addWidget(self.details_button)
        layout.addLayout(top)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.details_label)
        self.details_button.toggled.connect(self._fold)
        self.show_card(None)

    def _fold(self, *_) -> None:
        # no card (a classical method): nothing to unfold, even with Details left pressed
        unfolded = self.details_button.isChecked() and not self.details_button.isHidden()
        self.summary_label.setVisible(unfolded)
        self.details_label.setVisible(unfolded)

    def show_card(self, card) -> None:
        self.headline_label.setText(card_headline(card))
        self.summary_label.setText(card_summary(card))
        self.details_label.setHtml(card_details(card))
        self.details_button.setVisible(card is not None)
        self.headline_label.setVisible(card is not None)
        self._fold()

    def show_message(self, text: str) -> None:
        """A line in place of the card (why there is none)."""
        self.show_card(None)
        line = f"<i>{html.escape(text)}</i>"
        self.summary_label.setText(line)  # what the dock's card_label reads
        self.headline_label.setText(line)
        self.headline_label.setVisible(True)
