import pytest

from textkit.wrap import wrap


def test_short_text_single_line():
    assert wrap("one two", 20) == ["one two"]


def test_long_word_on_its_own_line():
    assert wrap("a extraordinarily b", 5) == ["a", "extraordinarily", "b"]


def test_rejects_zero_width():
    with pytest.raises(ValueError):
        wrap("text", 0)
