"""Context for every page: the demo's mode, the shop's settings and the visitor's cart.

The mistake on display: ``shop`` and ``cart`` each load the same settings row, so every broken page runs that
query twice (a duplicate). The fixed twin loads it once per request and keeps it on the request.
"""

from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest

from .demo import is_fixed
from .models import Order, OrderItem, ShopSettings


def shop_settings(request: HttpRequest) -> ShopSettings:
    """The shop's settings row: loaded anew each call when broken, once per request when fixed."""
    if not is_fixed(request):
        return ShopSettings.objects.get(pk=1)
    if not hasattr(request, "_shop_settings"):
        request._shop_settings = ShopSettings.objects.get(pk=1)
    return request._shop_settings


def demo(request: HttpRequest) -> dict:
    fixed = is_fixed(request)
    return {
        "fixed": fixed,
        "mode_query": "?fixed=1" if fixed else "",
        "toggle_url": toggle_url(request),
        "report_url": settings.QUERYSIGHT_REPORT_URL,
    }


def shop(request: HttpRequest) -> dict:
    return {"shop": shop_settings(request)}


def cart(request: HttpRequest) -> dict:
    currency = shop_settings(request).currency
    items = OrderItem.objects.filter(order__customer_id=settings.BOOKSHOP_CUSTOMER_ID, order__status=Order.Status.CART)
    count = items.aggregate(n=Sum("quantity"))["n"] or 0
    return {"cart": {"count": count, "currency": currency}}


def toggle_url(request: HttpRequest) -> str:
    """The same page in the other mode, keeping its other query parameters."""
    query = request.GET.copy()
    if is_fixed(request):
        query.pop("fixed", None)
    else:
        query["fixed"] = "1"
    encoded = query.urlencode()
    return f"{request.path}?{encoded}" if encoded else request.path
