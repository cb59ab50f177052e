"""The same small catalogue for every test database."""

from django.contrib.contenttypes.models import ContentType

from .models import Author, Book, Category, Club, Comment, Membership, Profile, Review, Tag


def seed(using: str = "default") -> None:
    if Author.objects.using(using).exists():
        return
    tags = [Tag.objects.using(using).create(name=name) for name in ("novel", "poetry", "classic")]
    for a in range(3):
        author = Author.objects.using(using).create(name=f"Author {a}")
        Profile.objects.using(using).create(author=author, bio=f"Bio {a}")
        for b in range(2):
            book = Book.objects.using(using).create(title=f"Book {a}.{b}", author=author, price="9.90")
            book.tags.add(*tags[: b + 1])
            for stars in (3, 5):
                Review.objects.using(using).create(book=book, stars=stars)
    root = Category.objects.using(using).create(name="Books")
    for name in ("Fiction", "Poetry"):
        child = Category.objects.using(using).create(name=name, parent=root)
        Category.objects.using(using).create(name=f"{name}, classics", parent=child)
    club = Club.objects.using(using).create(name="Readers")
    Membership.objects.using(using).create(club=club, person=Author.objects.using(using).first())
    types = ContentType.objects.db_manager(using)
    for target in [*Author.objects.using(using).order_by("id")[:2], *Book.objects.using(using).order_by("id")[:2]]:
        kind = types.get_for_model(target)
        Comment.objects.using(using).create(kind=kind, object_pk=target.pk, body=f"On {target.pk}")
