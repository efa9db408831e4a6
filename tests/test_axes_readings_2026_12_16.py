"""core.axes.other_readings: the other axes a guessed shape may have, as data (the writer had
formatted them into guess_note's sentence and split them back out)."""

from __future__ import annotations

from napari_microdeblur.core.axes import guess_note, other_readings


def test_other_readings_are_the_ones_the_note_names_in_its_order():
    for shape, axes, expected in (((3, 64, 64), "ZYX", ("CYX",)),
                                  ((2, 5, 64, 64), "CZYX", ("TZYX",)),
                                  ((4, 64, 64), "SYX", ("ZYX", "CYX"))):
        assert other_readings(shape, axes) == expected
        note = guess_note(shape, axes, give="<{0}>")
        assert [note.index(f"<{a}>") for a in expected] == sorted(
            note.index(f"<{a}>") for a in expected)


def test_no_other_reading_where_the_guess_is_not_in_doubt():
    assert other_readings((8, 64, 64), "ZYX") == ()  # 8 planes: no colour, no doubt
    assert other_readings((64, 64), "YX") == ()
    assert guess_note((8, 64, 64), "ZYX") is None
