import pytest

from calc.parse import parse_number


def test_plain_integer():
    assert parse_number("42") == 42


def test_thousands_separator():
    assert parse_number("1,234,567") == 1234567


def test_negative_fraction():
    assert parse_number(" -3.25 ") == -3.25


def test_rejects_garbage():
    with pytest.raises(ValueError):
        parse_number("12a")
