"""A test of Django's own runner (`manage.py test djangoapp.shop.tests_for_ci`), for `querysight ci` around it. Not
collected by pytest (its name is not test_*.py)."""

from django.test import TestCase

from .seed import seed


class BookPages(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        seed()

    def test_book_list(self) -> None:
        self.assertEqual(self.client.get("/books/").status_code, 200)
