import pytest

from inicfg.values import get_bool, get_int


def test_get_bool_true_false():
    cfg = {"a": {"x": "true", "y": "false"}}
    assert get_bool(cfg, "a", "x") is True
    assert get_bool(cfg, "a", "y") is False


def test_get_bool_rejects_other_words():
    with pytest.raises(ValueError):
        get_bool({"a": {"x": "maybe"}}, "a", "x")


def test_get_int_default():
    assert get_int({"a": {}}, "a", "n", default=3) == 3
    assert get_int({"a": {"n": "7"}}, "a", "n") == 7
