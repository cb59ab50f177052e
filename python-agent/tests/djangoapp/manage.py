#!/usr/bin/env python
"""manage.py of the agent's test project (used to run a real runserver in the PostgreSQL tests)."""

import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoapp.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
