from django.urls import path

from . import api, views

urlpatterns = [
    path("", views.home, name="home"),
    path("books/", views.book_list, name="book-list"),
    path("books/<int:pk>/", views.book_detail, name="book-detail"),
    path("authors/", views.author_list, name="author-list"),
    path("publishers/", views.publisher_list, name="publisher-list"),
    path("publishers/<int:pk>/", views.publisher_detail, name="publisher-detail"),
    path("account/", views.account, name="account"),
    path("cart/", views.cart, name="cart"),
    path("api/books/", api.books, name="api-books"),
    path("api/publishers/<int:pk>/restock/", api.restock, name="api-restock"),
]
