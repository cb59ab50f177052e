from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)

    def titles(self):
        count = self.book_set.count()
        titles = [book.title for book in self.book_set.order_by("id")]
        return f"{count}: {', '.join(titles)}"


class Profile(models.Model):
    author = models.OneToOneField(Author, on_delete=models.CASCADE)
    bio = models.TextField(blank=True)


class Tag(models.Model):
    name = models.CharField(max_length=50)


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE)
    tags = models.ManyToManyField(Tag, blank=True)
    price = models.DecimalField(max_digits=8, decimal_places=2, default=0)


class Review(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="reviews")
    stars = models.IntegerField(default=5)


class Club(models.Model):
    name = models.CharField(max_length=100)
    members = models.ManyToManyField(Author, through="Membership", related_name="clubs")


class Membership(models.Model):
    club = models.ForeignKey(Club, on_delete=models.CASCADE)
    person = models.ForeignKey(Author, on_delete=models.CASCADE)
    since = models.DateField(null=True, db_column="joined_on")

    class Meta:
        ordering = ("-since", "id")


class Comment(models.Model):
    """A comment on any object (a GenericForeignKey), as django-contrib-comments and django-taggit have them."""

    kind = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_pk = models.PositiveIntegerField()
    target = GenericForeignKey("kind", "object_pk")
    body = models.TextField(default="")


class Category(models.Model):
    """A tree: each category's children by a foreign key to itself."""

    name = models.CharField(max_length=50)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
