"""Opens changelists of the admin test project (djangoapp.settings_admin) as a logged-in superuser; prints, as JSON,
each page's querysight unit id and its table of results."""

import json
import re
import sys

import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

import querysight  # noqa: E402
from djangoapp.shop.seed import seed  # noqa: E402

call_command("migrate", run_syncdb=True, verbosity=0)
seed()
client = Client()
client.force_login(User.objects.create_superuser("admin", "admin@example.com", "secret"))
pages = {}
for path in sys.argv[1:]:
    response = client.get(path)
    html = response.content.decode()
    # What the page shows of its rows: a changelist's table, an inline's read-only column.
    table = re.search(r'<table id="result_list">.*?</table>', html, re.S)
    shown = table[0] if table else re.findall(r'<td class="field-tag_names">(.*?)</td>', html, re.S)
    pages[path] = {"status": response.status_code, "unit": response["X-QuerySight-Unit"], "table": shown}
querysight.flush(10)
print(json.dumps(pages))
