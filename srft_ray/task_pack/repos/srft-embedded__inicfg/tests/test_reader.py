import pytest

from inicfg.reader import ConfigError, parse


def test_sections_and_keys():
    cfg = parse("name = demo\n[server]\nhost = localhost\nport = 8080\n")
    assert cfg == {"": {"name": "demo"}, "server": {"host": "localhost", "port": "8080"}}


def test_hash_comments_and_blank_lines():
    cfg = parse("# top comment\n\n[a]\n  # indented comment\nx = 1\n")
    assert cfg["a"] == {"x": "1"}


def test_line_without_equals_is_an_error():
    with pytest.raises(ConfigError, match="line 2"):
        parse("[a]\njust words\n")
