"""Settings for the bookshop demo: a small shop with the classic ORM mistakes, for querysight to find.

Environment:
- ``BOOKSHOP_DB``: path of the SQLite database (default ``db.sqlite3`` beside ``manage.py``).
- ``BOOKSHOP_DEBUG``: ``0`` turns DEBUG off (and with it querysight, unless ``QUERYSIGHT_URL`` is set).
- ``QUERYSIGHT_URL``: where the querysight agent sends its units (read by the agent itself).
"""

import os
from importlib.util import find_spec
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# A demo that only ever listens on loopback: a fixed key is fine here and nowhere else.
SECRET_KEY = "bookshop-demo-not-secret"
DEBUG = os.environ.get("BOOKSHOP_DEBUG", "1") != "0"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "shop",
]

MIDDLEWARE = [
    # First, so it sees every query of the request, including those of the middlewares below.
    "querysight.django.QuerySightMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
if find_spec("querysight.django") is None:  # the shop also runs without the agent installed, just unobserved
    MIDDLEWARE.remove("querysight.django.QuerySightMiddleware")

ROOT_URLCONF = "bookshop.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csrf",
                "shop.context_processors.demo",
                "shop.context_processors.shop",
                "shop.context_processors.cart",
            ],
        },
    },
]

WSGI_APPLICATION = "bookshop.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BOOKSHOP_DB") or BASE_DIR / "db.sqlite3",
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
STATIC_URL = "static/"

QUERYSIGHT = {"APP_NAME": "bookshop"}

# The shop has no login: every visitor shops as this customer (created by `manage.py seed`).
BOOKSHOP_CUSTOMER_ID = 1

# Where the home page points for the querysight report.
QUERYSIGHT_REPORT_URL = os.environ.get("QUERYSIGHT_URL", "http://127.0.0.1:8321").rstrip("/") + "/"
