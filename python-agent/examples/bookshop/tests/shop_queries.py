"""Count what a request does to the database, with Django's own ``CaptureQueriesContext``."""

import re
from dataclasses import dataclass

from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext


@dataclass
class Recorded:
    response: HttpResponse
    sql: list[str]

    def count(self, pattern: str) -> int:
        """How many of the request's queries match the regular expression ``pattern``."""
        return sum(1 for sql in self.sql if re.search(pattern, sql))


def record(client: Client, path: str, method: str = "get", **kwargs) -> Recorded:
    with CaptureQueriesContext(connection) as captured:
        response = getattr(client, method)(path, **kwargs)
    assert response.status_code == 200, f"{method.upper()} {path} answered {response.status_code}"
    return Recorded(response, [query["sql"] for query in captured.captured_queries])
