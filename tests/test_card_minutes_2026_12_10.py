"""A fine-tune bounded by minutes wrote "fine-tuned for at most 2000 steps" on its card, the
step cap it never came near; the card now names the minutes too. Core runs are two steps of a
tiny GRAN on the light-sheet focus stack (as in test_card_metrics_2026_12_09)."""

from __future__ import annotations

from test_card_metrics_2026_12_09 import run_finetune


def test_a_minutes_bounded_fine_tune_says_so_on_its_card(tmp_path, focus_stack):
    outcome = run_finetune(tmp_path, focus_stack, minutes=0.5)
    assert "for at most 2 steps or 0.5 minute(s), whichever came first" in \
        outcome.card.description


def test_a_step_bounded_fine_tune_names_steps_only(tmp_path, focus_stack):
    outcome = run_finetune(tmp_path, focus_stack)
    assert "for at most 2 steps" in outcome.card.description
    assert "minute" not in outcome.card.description
