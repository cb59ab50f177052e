from django.core.management.base import BaseCommand

from djangoapp.shop.seed import seed


class Command(BaseCommand):
    help = "Fill the test catalogue."

    def handle(self, *args, **options):
        for alias in ("default", "other"):
            seed(alias)
