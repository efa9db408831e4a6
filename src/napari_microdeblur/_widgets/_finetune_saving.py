"""Save... of the Fine-tune dock: a copy of the run's kept weights file (same sha256, with its
model card), never of the starting weights. A mixin of ``_finetune.FinetuneWidget``."""

from __future__ import annotations

import os
from pathlib import Path

from qtpy.QtWidgets import QFileDialog

from ._feedback import notify_error, notify_info
from ._finetune_files import copy_weights


class FinetuneSaveMixin:
    """``save`` and the Save... button's ``_choose_save`` (``outcome``, ``status_label``)."""

    def _choose_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save fine-tuned weights", "", "safetensors (*.safetensors)"
        )
        if path:
            self.save(path)

    def save(self, path: str | os.PathLike) -> Path | None:
        """Copy the fine-tuned checkpoint (weights + model card) to ``path``."""
        if self.outcome is None or self.outcome.file is None:
            notify_error("nothing to save yet: run (or stop) a fine-tuning first")
            return None
        if self.outcome.kept_start:
            notify_error("nothing to save: the last run kept the starting weights (the base "
                         "model unchanged); run again longer or with more data")
            return None
        try:
            path = copy_weights(self.outcome.file, path)
        except ValueError as error:
            notify_error(str(error))
            return None
        except OSError as error:
            notify_error(f"could not save {path}: {error}")
            return None
        notify_info(f"saved {path.name} (sha256 {self.outcome.card.sha256[:12]}...)")
        self.status_label.setText(f"saved {path}")
        return path
