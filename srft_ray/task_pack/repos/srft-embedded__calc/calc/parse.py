"""Parsing numbers written by people: "1,234.50", "-12", "3.5"."""

import re

_NUMBER = re.compile(r"^(-)?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?$")


def parse_number(text):
    """Parse a decimal number with optional sign and thousands separators.

    Returns an int when there is no fractional part, else a float.
    Raises ValueError for anything else.
    """
    match = _NUMBER.match(text.strip())
    if match is None:
        raise ValueError(f"not a number: {text!r}")
    sign, whole, fraction = match.groups()
    digits = whole.replace(",", "")
    if fraction is not None:
        value = float(f"{digits}.{fraction}")
    else:
        value = int(digits)
    return -value if sign == "-" else value
