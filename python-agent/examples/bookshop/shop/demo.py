"""The one switch of the demo: ``?fixed=1`` serves the fixed twin of every page."""

from django.http import HttpRequest


def is_fixed(request: HttpRequest) -> bool:
    """Whether this request asked for the fixed version of the page."""
    return request.GET.get("fixed") == "1"


def with_mode(path: str, fixed: bool) -> str:
    """``path`` in the given mode (broken or fixed)."""
    if not fixed:
        return path
    return f"{path}{'&' if '?' in path else '?'}fixed=1"
