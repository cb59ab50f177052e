"""A small Flask app on the SQLAlchemy test models, wrapped in querysight's WSGI middleware (used by the tests)."""

from __future__ import annotations

import gzip
import io
from typing import Any

from flask import Flask, Response, abort, jsonify, render_template_string, send_file, stream_with_context
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

import sa_models
from querysight.wsgi import QuerySightMiddleware

DOCUMENT = b"<!doctype html><html><body><p>" + b"a page served as a file " * 10 + b"</p></body></html>"
PAGE = """<!doctype html>
<html><body><h1>Books</h1><ul>{% for line in lines %}<li>{{ line }}</li>{% endfor %}</ul></body></html>"""


def create_app(engine: Engine, **config: Any) -> Flask:
    app = Flask("flask_shop")
    app.config.update(config)

    @app.get("/books/")
    def book_list() -> str:
        with Session(engine) as session:
            return render_template_string(PAGE, lines=sa_models.titles_with_authors(session))

    @app.get("/authors/")
    def author_list() -> Any:
        with Session(engine) as session:
            return jsonify(sa_models.books_per_author(session))

    @app.get("/books/<int:book_id>")
    def book_detail(book_id: int) -> Any:
        with Session(engine) as session:
            book = session.get(sa_models.Book, book_id)
            if book is None:
                abort(404)
            return jsonify(title=book.title)

    @app.get("/stream/")
    def streamed() -> Response:
        def rows() -> Any:
            yield "<html><body><ul>"
            with Session(engine) as session:
                for title in session.scalars(select(sa_models.Book.title).order_by(sa_models.Book.id)):
                    yield f"<li>{title}</li>"
            yield "</ul></body></html>"

        return Response(stream_with_context(rows()), mimetype="text/html")

    @app.get("/gzip/")
    def gzipped() -> Response:
        body = gzip.compress(b"<html><body>compressed</body></html>")
        return Response(body, mimetype="text/html", headers={"Content-Encoding": "gzip"})

    @app.get("/document/")
    def document() -> Response:  # answers a Range request with 206 Partial Content
        return send_file(io.BytesIO(DOCUMENT), mimetype="text/html", conditional=True)

    @app.get("/closing/")
    def closing() -> Response:  # work done when the server closes the body is the request's too
        response = Response("closing")

        @response.call_on_close
        def count_books() -> None:
            with engine.connect() as conn:
                conn.execute(text("SELECT count(*) FROM books"))

        return response

    @app.get("/fragment/")
    def fragment() -> str:
        return "<p>no body tag here</p>"

    @app.get("/broken/")
    def broken() -> str:
        with engine.connect() as conn:
            conn.execute(text("SELECT * FROM no_such_table"))
        return "unreachable"

    @app.get("/static/logo.txt")
    def static_file() -> str:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return "logo"

    app.wsgi_app = QuerySightMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app
