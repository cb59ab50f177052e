"""The same project on PostgreSQL (host, port, user from the environment the tests' cluster fixture sets)."""

import os

from .settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("QS_PG_NAME", "querysight"),
        "USER": os.environ.get("QS_PG_USER", "postgres"),
        "HOST": os.environ.get("QS_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("QS_PG_PORT", "5432"),
        "TEST": {"MIGRATE": False},
    },
    "other": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("QS_PG_OTHER_NAME", "querysight_other"),
        "USER": os.environ.get("QS_PG_USER", "postgres"),
        "HOST": os.environ.get("QS_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("QS_PG_PORT", "5432"),
        "TEST": {"MIGRATE": False},
    },
}
QUERYSIGHT = {"APP_NAME": "shoptests-pg"}
