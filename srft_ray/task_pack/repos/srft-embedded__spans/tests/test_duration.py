import pytest

from spans.duration import format_duration, parse_duration


def test_parse_hours_and_minutes():
    assert parse_duration("1h5m") == 3900


def test_parse_rejects_garbage():
    with pytest.raises(ValueError):
        parse_duration("1x")


def test_format_mixed():
    assert format_duration(3725) == "1h2m5s"
