from textkit.truncate import truncate


def test_short_text_unchanged():
    assert truncate("short", 10) == "short"


def test_exact_length_unchanged():
    assert truncate("exactly10!", 10) == "exactly10!"
