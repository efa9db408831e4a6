"""The Fine-tune dock's words and plot lines for a run's outcome: the reference lines of the
validation plot, and a run that returned its starting weights (nothing learned). A mixin of
``_finetune.FinetuneWidget``."""

from __future__ import annotations

from ._feedback import notify_info
from ._finetune_plots import BASE_COLOR, INPUT_COLOR
from ._finetune_self import SelfAdaptRequest
from ._finetune_status import ending, psf_words


class FinetuneOutcomeMixin:
    """``_nothing_learned`` and ``_draw_references`` (``request``, ``plots``, ``status_label``,
    ``psf_text``, ``_last_step``)."""

    def _nothing_learned(self, outcome) -> None:
        """The run returned its starting weights: no method is added (it would be the base
        under a new name) and Compare & QC is not filled (base against itself)."""
        from ..core.finetune import BEFORE_FIRST_VALIDATION, STARTING_WEIGHTS_RETURNED

        self.session_label = None
        how = "stopped" if outcome.stopped else "finished"
        early = outcome.unvalidated  # no trained weights were scored
        again = ("more Minutes, or another Learning rate"
                 if isinstance(self.request, SelfAdaptRequest)
                 else "more Minutes or Steps, more training planes, or another Learning rate")
        if early:
            again = "let the run go past its first validation (more Minutes or Steps)"
        ended, details = ending(outcome, self._last_step, getattr(self.request, "steps", None))
        self.status_label.setText(
            f"{ended}{psf_words(self.psf_text)}; "
            f"{details.replace(STARTING_WEIGHTS_RETURNED, 'the base is unchanged')}. "
            f"Nothing was added to the Deblur dock. To try again: {again}.")
        base = repr(self.request.base_label)
        why = (f"it ended {BEFORE_FIRST_VALIDATION}, so {base} is unchanged" if early
               else f"no validation beat the starting weights of {base}")
        notify_info(f"fine-tuning {how}: {why}; nothing was added to the Deblur dock")

    def _draw_references(self, fit) -> None:
        """The input's and the base model's validation as flat lines across the run."""
        if isinstance(self.request, SelfAdaptRequest):
            self.plots.add_reference("base model (start)", fit.start_val_loss, BASE_COLOR)
        elif fit is not None:
            self.plots.add_reference("input (no deblurring)", fit.baseline.get("val_psnr"),
                                     INPUT_COLOR)
            start = next((h["val_psnr"] for h in fit.history if h["step"] == 0), None)
            self.plots.add_reference("base model (start)", start, BASE_COLOR)
