"""Settings of the Django project the agent's tests run against (SQLite; see settings_pg for PostgreSQL)."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "querysight-tests-only"
DEBUG = True
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
ROOT_URLCONF = "djangoapp.urls"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = ["django.contrib.contenttypes", "djangoapp.shop"]

MIDDLEWARE = [
    "querysight.django.QuerySightMiddleware",
    "django.middleware.common.CommonMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"debug": True},
    },
    {"BACKEND": "django.template.backends.jinja2.Jinja2", "APP_DIRS": True},  # shop/jinja2/
]

_DB_DIR = os.environ.get("QUERYSIGHT_TEST_DB_DIR")
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(_DB_DIR, "default.sqlite3") if _DB_DIR else ":memory:",
        "TEST": {"MIGRATE": False},
    },
    "other": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(_DB_DIR, "other.sqlite3") if _DB_DIR else ":memory:",
        "TEST": {"MIGRATE": False},
    },
}

QUERYSIGHT = {"APP_NAME": "shoptests", "CONSOLE": False}
