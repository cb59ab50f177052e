from django.urls import path
from django.views.generic import ListView

from djangoapp.shop import views
from djangoapp.shop.models import Book

urlpatterns = [
    path("books/", views.book_list, name="book_list"),
    path("jinja/books/", views.jinja_book_list),
    path("books/<int:pk>/", views.book_detail, name="book_detail"),
    path("authors/twice/", views.authors_twice),
    path("many/<int:n>/", views.many_queries),
    path("broken/", views.broken_query),
    path("params/", views.odd_params),
    path("write-many/", views.write_many),
    path("other-db/", views.other_db),
    path("composed-sql/", views.composed_sql),
    path("aliases/", views.on_each_alias),
    path("stream/", views.streaming_html),
    path("gzip/", views.gzipped_html),
    path("fragment/", views.html_without_body),
    path("two-bodies/", views.html_two_bodies),
    path("text/", views.plain_text),
    path("static/<str:name>", views.static_file),
    path("assets/<str:name>", views.static_file),
    path("async/books/", views.async_books),
    path("async/helper/", views.async_helper),
    path("async/tasks/", views.async_tasks),
    path("async/gathered-orm/", views.async_gathered_orm),
    path("async/busy-loop/", views.async_for_while_the_loop_is_busy),
    path("empty/", views.no_queries),
    path("thread/", views.in_a_new_thread),
    path("thread-pool/", views.in_a_thread_pool),
    path("authors/", views.author_list),
    path("partial-twice/", views.partial_twice),
    path("book-rows/", views.book_rows),
    path("categories/", views.category_tree),
    path("template-places/<str:case>/", views.template_places),
    path("comments/", views.comment_targets),
    path("authors/by-name/", views.authors_by_name),
    path("books.csv", views.books_csv),
    path("books-prepared.csv", views.books_csv_prepared),
    path("async/books.csv", views.books_csv_async),
    path("async/broken/", views.async_broken),
    # Django's own view and a template: no frame of the app's makes these queries.
    path("generic/books/", ListView.as_view(model=Book, template_name="shop/generic_books.html", ordering="id")),
]
