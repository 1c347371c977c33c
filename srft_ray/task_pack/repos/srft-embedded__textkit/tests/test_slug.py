from textkit.slug import slugify


def test_simple_words():
    assert slugify("Hello World") == "hello-world"


def test_collapses_punctuation():
    assert slugify("a -- b") == "a-b"
