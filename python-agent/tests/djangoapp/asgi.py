"""ASGI entry point of the test project (served by uvicorn in the agent's tests)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoapp.settings")
application = get_asgi_application()
