"""Shortening text for display."""


def truncate(text, max_length, ellipsis="..."):
    """Return `text` cut so that it fits in `max_length` characters, marked with `ellipsis`."""
    if len(text) <= max_length:
        return text
    return text[:max_length] + ellipsis
