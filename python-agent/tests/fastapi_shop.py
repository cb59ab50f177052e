"""A small FastAPI app on the SQLAlchemy test models: sync and async endpoints, a sync engine on SQLite and an async
engine on aiosqlite (same file), wrapped in querysight's ASGI middleware (used by the tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import BackgroundTasks, Depends, FastAPI, HTTPException, WebSocket
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy import Engine, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import sa_models
from querysight.asgi import QuerySightMiddleware

PAGE = "<!doctype html><html><body><h1>Books</h1><ul>{items}</ul></body></html>"


def create_app(engine: Engine, async_engine: AsyncEngine, *, debug: bool = False, wrap: bool = False) -> Any:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    app = FastAPI(debug=debug, lifespan=lifespan)
    app.state.events = events

    def session() -> Iterator[Session]:
        with Session(engine) as s:
            yield s

    @app.get("/books/", response_class=HTMLResponse)
    def book_list(db: Session = Depends(session)) -> str:  # noqa: B008 - FastAPI's dependency style
        items = "".join(f"<li>{line}</li>" for line in sa_models.titles_with_authors(db))
        return PAGE.format(items=items)

    @app.get("/async/books/")
    async def async_book_list() -> list[str]:
        async with AsyncSession(async_engine) as db:
            books = (await db.scalars(select(sa_models.Book).order_by(sa_models.Book.id))).all()
            return [f"{book.title} by {(await book.awaitable_attrs.author).name}" for book in books]

    @app.get("/books/{book_id}")
    async def book_detail(book_id: int) -> dict[str, str]:
        async with AsyncSession(async_engine) as db:
            book = await db.get(sa_models.Book, book_id)
        if book is None:
            raise HTTPException(status_code=404)
        return {"title": book.title}

    @app.get("/partial/")
    def partial() -> Response:  # the end of a page, as a server answers a Range request
        page = PAGE.format(items="").encode()
        tail = page[10:]
        headers = {"Content-Range": f"bytes 10-{len(page) - 1}/{len(page)}"}
        return Response(tail, status_code=206, media_type="text/html", headers=headers)

    @app.get("/stream/")
    def streamed() -> StreamingResponse:
        def rows() -> Iterator[str]:
            yield "<html><body><ul>"
            for n in range(3):
                yield f"<li>{n}</li>"
            yield "</ul></body></html>"

        return StreamingResponse(rows(), media_type="text/html")

    @app.get("/broken/")
    async def broken() -> None:
        async with async_engine.connect() as conn:
            await conn.execute(text("SELECT * FROM no_such_table"))

    @app.post("/visits/")
    def visit(tasks: BackgroundTasks) -> dict[str, bool]:
        def count() -> None:
            with engine.connect() as conn:
                conn.execute(text("SELECT count(*) FROM books"))

        tasks.add_task(count)
        return {"ok": True}

    app.router.routes.append(Route("/chunked/", _TwoChunks()))

    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.close()

    async def item(request: Any) -> JSONResponse:
        return JSONResponse({"item": request.path_params["item_id"]})

    app.mount("/api", Starlette(routes=[Route("/items/{item_id}", item)]))
    if wrap:
        return QuerySightMiddleware(app)
    app.add_middleware(QuerySightMiddleware)
    return app


class _TwoChunks:
    """A complete HTML page sent as two body messages (Content-Length declared)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        first, second = b"<html><body>two ", b"chunks</body></html>"
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(first + second)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": first, "more_body": True})
        await send({"type": "http.response.body", "body": second})
