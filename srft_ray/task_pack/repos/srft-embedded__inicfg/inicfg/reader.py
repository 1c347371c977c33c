"""Reading INI text into nested dictionaries."""


class ConfigError(ValueError):
    """Malformed INI text; the message names the line."""


def parse(text):
    """Parse INI `text` into {section: {key: value}}.

    Keys before any section header go into the "" section. Blank lines and lines starting
    with "#" are ignored. Keys and values are stripped of surrounding whitespace.
    """
    sections = {"": {}}
    current = sections[""]
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].strip(), {})
            continue
        if "=" not in line:
            raise ConfigError(f"line {number}: expected 'key = value', got {raw!r}")
        key, value = line.split("=")
        current[key.strip()] = value.strip()
    return sections
