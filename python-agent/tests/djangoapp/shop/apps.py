from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "djangoapp.shop"
    label = "shop"
