"""Typed access to parsed INI values."""


def get_bool(sections, section, key):
    """The value at [section] key as a bool."""
    value = sections[section][key]
    if value == "true":
        return True
    if value == "false":
        return False
    raise ValueError(f"[{section}] {key}: not a boolean: {value!r}")


def get_int(sections, section, key, default=None):
    """The value at [section] key as an int; `default` when the key is absent."""
    values = sections.get(section, {})
    if key not in values:
        if default is None:
            raise KeyError(f"[{section}] {key}")
        return default
    return int(values[key])
