from django.urls import path

from djangoapp.shop import views

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
    path("authors/", views.author_list),
    path("books.csv", views.books_csv),
    path("async/books.csv", views.books_csv_async),
]
