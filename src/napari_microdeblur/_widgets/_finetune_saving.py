"""Save... of the Fine-tune dock: a copy of the run's kept weights file (same sha256, with its
model card), never of the starting weights, and never over the file the run started from. A
kept copy deleted by hand (the README invites deleting old ones) is saved from the network in
memory (``_finetune_files.save_from_memory``: the same bytes) instead of failing with
'[Errno 2] No such file or directory'.

Qt's save dialog asks before replacing the name as typed ('tuned'); the weights go to
'tuned.safetensors', so when the suffix was added and that file exists, the dock asks itself
(as the Deblur dock's save does): it had replaced an earlier fine-tune without a word."""

from __future__ import annotations

import os
from pathlib import Path

from qtpy.QtWidgets import QFileDialog

from ..core.atomic_write import same_file
from ._feedback import notify_error, notify_info, notify_warning, replace_asked
from ._finetune_files import copy_weights, save_from_memory, weights_path


class FinetuneSaveMixin:
    """``save`` and the Save... button's ``_choose_save`` (``outcome``, ``request``,
    ``status_label``)."""

    def _choose_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save fine-tuned weights", "", "safetensors (*.safetensors)"
        )
        if not path:
            return
        final = weights_path(path)
        # Qt asked to replace the name typed ('tuned'), not the one the suffix makes
        if final != Path(path) and final.exists() and not replace_asked(final):
            self.status_label.setText(f"not saved: {final} kept as it was")
            return
        self.save(final)

    def _start_file(self) -> str | None:
        """The weights file the last run started from (its base model's card), if any."""
        card = getattr(self.request, "base_card", None)
        return getattr(card, "source", None) or None

    def save(self, path: str | os.PathLike) -> Path | None:
        """Copy the fine-tuned checkpoint (weights + model card) to ``path``."""
        if self.outcome is None or self.outcome.file is None:
            notify_error("nothing to save yet: run (or stop) a fine-tuning first")
            return None
        if self.outcome.kept_start:
            notify_error("nothing to save: the last run kept the starting weights (the base "
                         "model unchanged); run again longer or with more data")
            return None
        start = self._start_file()
        if same_file(weights_path(path), start):  # layers deblurred with it name its sha256
            notify_error(f"{weights_path(path).name} holds the weights this run started from "
                         "and is not replaced: choose another name for the fine-tuned weights")
            return None
        gone = not Path(self.outcome.file).is_file()  # deleted by hand since the run
        try:
            if gone:
                path, differs = save_from_memory(self.outcome, path)
            else:
                path, differs = copy_weights(self.outcome.file, path), ""
        except ValueError as error:
            notify_error(str(error))
            return None
        except OSError as error:
            notify_error(f"could not save {path}: {error}")
            return None
        if gone:  # said: the kept copy is no longer there to load next time
            how = (f"from memory: the kept copy {self.outcome.file} was deleted"
                   + (f"; {differs}" if differs else ""))
            (notify_warning if differs else notify_info)(f"saved {path.name} {how}")
            self.status_label.setText(f"saved {path} {how}")
            return path
        notify_info(f"saved {path.name} (sha256 {self.outcome.card.sha256[:12]}...)")
        self.status_label.setText(f"saved {path}")
        return path
