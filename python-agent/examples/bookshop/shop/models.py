"""The bookshop's data: books with their authors, publishers, tags and reviews; customers and their orders."""

from django.db import models


class ShopSettings(models.Model):
    """The shop's one row of settings, read on every page by the context processors."""

    name = models.CharField(max_length=100)
    currency = models.CharField(max_length=3, default="EUR")
    banner = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name_plural = "shop settings"

    def __str__(self) -> str:
        return self.name


class Author(models.Model):
    name = models.CharField(max_length=100)
    bio = models.TextField(blank=True)
    born = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Publisher(models.Model):
    name = models.CharField(max_length=100)
    city = models.CharField(max_length=100)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    publisher = models.ForeignKey(Publisher, on_delete=models.PROTECT, related_name="books")
    tags = models.ManyToManyField(Tag, related_name="books", blank=True)
    isbn = models.CharField(max_length=17, unique=True)
    price = models.DecimalField(max_digits=7, decimal_places=2)
    stock = models.PositiveIntegerField(default=0)
    published = models.DateField()

    class Meta:
        ordering = ("title", "id")

    def __str__(self) -> str:
        return self.title


class Customer(models.Model):
    name = models.CharField(max_length=100)
    email = models.EmailField(unique=True)
    joined = models.DateField()

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Profile(models.Model):
    """A customer's profile: reached from a customer as ``customer.profile`` (a reverse one-to-one)."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="profile")
    city = models.CharField(max_length=100)
    favourite_tag = models.ForeignKey(Tag, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    newsletter = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"profile of {self.customer_id}"


class Review(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="reviews")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="reviews")
    rating = models.PositiveSmallIntegerField()
    body = models.TextField()
    created = models.DateTimeField()

    class Meta:
        ordering = ("-created", "-id")

    def __str__(self) -> str:
        return f"{self.rating}/5 for {self.book_id}"

    @property
    def stars(self) -> str:
        return "★" * self.rating


class Order(models.Model):
    class Status(models.TextChoices):
        CART = "cart", "In the cart"
        PAID = "paid", "Paid"
        SHIPPED = "shipped", "Shipped"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CART)
    created = models.DateTimeField()

    class Meta:
        ordering = ("-created", "-id")

    def __str__(self) -> str:
        return f"order {self.pk}"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    book = models.ForeignKey(Book, on_delete=models.PROTECT, related_name="order_items")
    quantity = models.PositiveSmallIntegerField(default=1)
    price = models.DecimalField(max_digits=7, decimal_places=2)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return f"{self.quantity} x {self.book_id}"
