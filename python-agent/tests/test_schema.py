"""The schema message, built from Django's app registry."""

from __future__ import annotations

from django.db import models
from django.db.models.signals import post_save
from django.test.utils import isolate_apps

from querysight.django import build_schema, describe_model, describe_proxy


def models_by_label():
    return {m["model"]: m for m in build_schema()["models"]}


def relations(label):
    return {r["field"]: r for r in models_by_label()[label]["relations"]}


def test_describes_each_model_by_label_table_and_primary_key():
    book = models_by_label()["shop.Book"]
    assert (book["table"], book["pk"]) == ("shop_book", "id")


def test_describes_foreign_keys_and_their_reverse_accessors():
    assert relations("shop.Book")["author"] == {
        "field": "author",
        "kind": "fk",
        "column": "author_id",
        "target": "shop.Author",
    }
    assert relations("shop.Book")["reviews"] == {
        "field": "reviews",
        "kind": "reverse_fk",
        "target": "shop.Review",
        "target_column": "book_id",
    }
    assert relations("shop.Author")["book_set"]["kind"] == "reverse_fk"


def test_describes_one_to_one_both_ways():
    assert relations("shop.Profile")["author"] == {
        "field": "author",
        "kind": "o2o",
        "column": "author_id",
        "target": "shop.Author",
    }
    assert relations("shop.Author")["profile"] == {
        "field": "profile",
        "kind": "reverse_o2o",
        "target": "shop.Profile",
        "target_column": "author_id",
    }


def test_describes_many_to_many_with_the_through_table_and_columns():
    assert relations("shop.Book")["tags"] == {
        "field": "tags",
        "kind": "m2m",
        "target": "shop.Tag",
        "through_table": "shop_book_tags",
        "source_column": "book_id",
        "target_column": "tag_id",
    }
    assert relations("shop.Tag")["book_set"] == {
        "field": "book_set",
        "kind": "reverse_m2m",
        "target": "shop.Book",
        "through_table": "shop_book_tags",
        "source_column": "tag_id",
        "target_column": "book_id",
    }


def test_describes_an_explicit_through_model():
    assert relations("shop.Club")["members"] == {
        "field": "members",
        "kind": "m2m",
        "target": "shop.Author",
        "through_table": "shop_membership",
        "source_column": "club_id",
        "target_column": "person_id",
    }
    assert relations("shop.Author")["clubs"]["source_column"] == "person_id"
    assert relations("shop.Membership")["person"]["kind"] == "fk"


def test_leaves_out_auto_created_through_models_and_hidden_relations():
    labels = set(models_by_label())
    assert "shop.Book_tags" not in labels
    assert not any(field.endswith("+") for m in build_schema()["models"] for field in relations(m["model"]))


def test_goes_with_the_first_batch_of_a_django_process(client, receiver):
    client.get("/books/1/")
    client.get("/books/2/")
    from querysight import flush

    assert flush(5)
    first = receiver.requests[0].body
    assert "shop.Book" in {m["model"] for m in first["schema"]["models"]}
    assert all("schema" not in r.body for r in receiver.requests[1:])


def test_describes_the_default_ordering_of_a_model_by_the_columns_its_order_by_names():
    # A related manager read in that order is what a plain prefetch_related loads; an order_by() of the loop's is not.
    models = models_by_label()
    assert models["shop.Membership"]["ordering"] == ["-joined_on", "id"]  # since = DateField(db_column="joined_on")
    assert models["shop.Book"]["ordering"] == []


def test_leaves_out_an_ordering_whose_order_by_cannot_be_foreseen():
    from django.db.models import F

    from djangoapp.shop.models import Membership

    meta = Membership._meta
    saved = meta.ordering
    try:
        # An expression, random order, a field of a related model, a foreign key (its model's own ordering).
        for ordering in ([F("since").desc(nulls_last=True)], ["?"], ["club__name"], ["club"]):
            meta.ordering = ordering
            assert "ordering" not in models_by_label()["shop.Membership"], ordering
        meta.ordering = ["-pk"]
        assert models_by_label()["shop.Membership"]["ordering"] == ["-id"]
    finally:
        meta.ordering = saved


def test_describes_a_generic_foreign_key_by_its_columns():
    # The server then tells comment.target read per row (pk lookups of any table): prefetch_related("target").
    comment = models_by_label()["shop.Comment"]
    assert comment["generic_fks"] == [{"field": "target", "ct_column": "kind_id", "fk_column": "object_pk"}]
    assert comment["relations"] == [
        {"field": "kind", "kind": "fk", "column": "kind_id", "target": "contenttypes.ContentType"}
    ]
    assert "generic_fks" not in models_by_label()["shop.Book"]


def test_says_nothing_of_a_plain_objects_manager_or_of_save_signals_nobody_listens_to():
    book = models_by_label()["shop.Book"]
    assert "manager" not in book and "save_signals" not in book


@isolate_apps("djangoapp.shop")
def test_names_a_default_manager_that_leaves_rows_out_and_the_save_signals_bulk_writes_would_skip():
    class Published(models.Manager):
        def get_queryset(self):
            return super().get_queryset().filter(published=True)

    class Article(models.Model):
        published = models.BooleanField(default=False)
        objects = Published()
        everything = models.Manager()

        class Meta:
            app_label = "shop"

    class Note(models.Model):
        notes = models.Manager()  # not called objects, and leaving nothing out

        class Meta:
            app_label = "shop"

    def audit(sender, instance, **kwargs):
        pass

    post_save.connect(audit, sender=Article)
    try:
        article = describe_model(Article)
    finally:
        post_save.disconnect(audit, sender=Article)
    assert article["manager"] == {"name": "objects", "filtered": True}
    assert article["save_signals"] == ["post_save"]
    assert describe_model(Note)["manager"] == {"name": "notes", "filtered": False}
    assert "save_signals" not in describe_model(Note)

    class Draft(models.Model):
        published = models.BooleanField(default=False)
        drafts = Published()  # the default manager, filtering
        objects = models.Manager()  # what Draft.objects in a fix reads: every row

        class Meta:
            app_label = "shop"

    assert "manager" not in describe_model(Draft)


@isolate_apps("djangoapp.shop")
def test_describes_a_proxy_model_by_the_model_whose_table_it_shares():
    # A fix over shop_book named Book.objects even when the loop went over ClassicBook.objects.all(): pasted, the
    # loop got Book objects, which lack the proxy's methods (a probe). The server now mentions the proxy.
    from djangoapp.shop.models import Book

    class ClassicBook(Book):
        class Meta:
            proxy = True
            app_label = "shop"

    assert describe_proxy(ClassicBook) == {
        "model": "shop.ClassicBook",
        "table": "shop_book",
        "pk": "id",
        "proxy_for": "shop.Book",
        "relations": [],
    }


def test_lists_proxy_models_before_the_models_whose_tables_they_share(monkeypatch):
    # A server that does not know proxy_for takes the last model of a table as the table's: the concrete one comes last.
    from django.apps import apps

    from djangoapp.shop.models import Author, Book

    with isolate_apps("djangoapp.shop"):

        class ClassicBook(Book):
            class Meta:
                proxy = True
                app_label = "shop"

        monkeypatch.setattr(apps, "get_models", lambda: [Author, Book, ClassicBook])
        labels = [(m["model"], m.get("proxy_for")) for m in build_schema()["models"]]
    assert labels == [("shop.ClassicBook", "shop.Book"), ("shop.Author", None), ("shop.Book", None)]
