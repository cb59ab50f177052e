"""A project's own middleware, as many have: it reads the database itself, then calls the rest of the chain."""

from .models import Author


class AuthorCountMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.author_count = Author.objects.count()
        return self.get_response(request)
