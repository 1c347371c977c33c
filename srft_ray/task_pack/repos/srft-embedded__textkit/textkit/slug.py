"""URL slugs."""

import re

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def slugify(text):
    """Lower-case `text` and join its alphanumeric runs with single dashes."""
    return _NOT_ALNUM.sub("-", text.lower())
