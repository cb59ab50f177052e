"""SQLAlchemy 2 ORM models shared by the SQLAlchemy, Flask and FastAPI tests: authors, their books (one-to-many),
a profile per author (one-to-one), and tags on books (many-to-many through ``book_tags``)."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, String, Table, select
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


class Base(AsyncAttrs, DeclarativeBase):
    pass


book_tags = Table(
    "book_tags",
    Base.metadata,
    Column("book_id", ForeignKey("books.id"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id"), primary_key=True),
)


class Author(Base):
    __tablename__ = "authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    books: Mapped[list[Book]] = relationship(back_populates="author")
    profile: Mapped[Profile | None] = relationship(back_populates="author", uselist=False)


class Profile(Base):
    __tablename__ = "profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"), unique=True)
    bio: Mapped[str] = mapped_column(String(200), default="")
    author: Mapped[Author] = relationship(back_populates="profile")


class Book(Base):
    __tablename__ = "books"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    author: Mapped[Author] = relationship(back_populates="books")
    tags: Mapped[list[Tag]] = relationship(secondary=book_tags, back_populates="books")


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    books: Mapped[list[Book]] = relationship(secondary=book_tags, back_populates="tags")


AUTHORS = 4
BOOKS_PER_AUTHOR = 2


def seed(session: Session) -> None:
    """Four authors with two books each, a profile for every author, and two tags."""
    tags = [Tag(name="classic"), Tag(name="new")]
    for i in range(AUTHORS):
        author = Author(name=f"Author {i}", profile=Profile(bio=f"bio {i}"))
        for j in range(BOOKS_PER_AUTHOR):
            author.books.append(Book(title=f"Book {i}.{j}", tags=[tags[j % 2]]))
        session.add(author)
    session.commit()


def titles_with_authors(session: Session) -> list[str]:
    """The classic N+1: one query for the books, then one lazy load of its author per book."""
    books = session.scalars(select(Book).order_by(Book.id)).all()
    return [f"{book.title} by {book.author.name}" for book in books]


def books_per_author(session: Session) -> dict[str, int]:
    """A reverse N+1: one query for the authors, then one lazy load of the books per author."""
    return {author.name: len(author.books) for author in session.scalars(select(Author).order_by(Author.id))}
