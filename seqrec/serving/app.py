"""The HTTP API: FastAPI over one loaded :class:`Recommender`.

Endpoints (JSON; every request model is pydantic with bounds, and a request outside them is answered
422 with the offending field's location, e.g. ``["body", "k"]``):

    GET  /                 the demo page (one static HTML file with inline JS and CSS, no CDN)
    GET  /health           liveness and catalogue size
    GET  /metadata         model, configuration, dataset, retrieval index (kind, recall), limits
    POST /recommend        top-k for a known user, or for a history of item ids or titles
    GET  /similar          items nearest to an item in the model's item table (cosine or dot)
    GET  /search           title search (exact > prefix > substring > word matches; ties by popularity)

The model is loaded once, before the app is built. Every call into the recommender (torch, FAISS,
Polars) runs on one dedicated worker thread, fed by the event loop in arrival order: concurrent
requests never share the model at the same time, wait their turn fairly (FIFO, so the tail latency
under load is the queue, not lock luck), and the event loop stays free to read and write sockets.
Bodies above ``max_body_bytes`` are refused with 413 before they are parsed.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
import torch
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from seqrec.data.sequences import Sequences
from seqrec.serving.page import PAGE_HTML
from seqrec.serving.recommender import AmbiguousTitleError, RankedLists, Recommender, UnknownTitleError

T = TypeVar("T")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Limits:
    """Input bounds. The request models below are declared with these defaults."""

    max_k: int = 1000
    max_history: int = 500
    max_filter_items: int = 10_000
    max_query_chars: int = 200
    max_body_bytes: int = 256 * 1024


LIMITS = Limits()

ItemId = Annotated[int | str, Field(union_mode="left_to_right")]
"""An external item or user id: a JSON number or string (coerced to the vocabulary's type)."""
Title = Annotated[str, StringConstraints(min_length=1, max_length=LIMITS.max_query_chars)]
Scalar = str | int | float | bool | None
MetaValue = Scalar | list[Scalar]
"""An item metadata value as JSON: a scalar or a list of scalars (anything else is sent as text)."""


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecommendRequest(_Request):
    """Give exactly one of ``user``, ``history`` or ``history_titles``."""

    user: ItemId | None = None
    """A known user: their recorded history is the input."""
    history: list[ItemId] | None = Field(None, min_length=1, max_length=LIMITS.max_history)
    """An ad-hoc history of external item ids, oldest first."""
    history_titles: list[Title] | None = Field(None, min_length=1, max_length=LIMITS.max_history)
    """An ad-hoc history of exact titles (case-insensitive), oldest first."""
    k: int = Field(10, ge=1, le=LIMITS.max_k)
    filter_seen: bool = True
    """Remove the history's items from the list."""
    exclude: list[ItemId] = Field(default_factory=list, max_length=LIMITS.max_filter_items)
    include_only: list[ItemId] | None = Field(None, min_length=1, max_length=LIMITS.max_filter_items)

    @model_validator(mode="after")
    def _one_input(self) -> RecommendRequest:
        given = [self.user is not None, self.history is not None, self.history_titles is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of user, history, history_titles")
        return self


class Item(BaseModel):
    item: int | str
    title: str | None = None
    meta: dict[str, MetaValue] = Field(default_factory=dict)
    """The dataset's other item metadata (genres, year, ...)."""


class ScoredItem(Item):
    rank: int
    score: float


class SearchHit(Item):
    match: float
    """Title match strength: 4 exact, 3 prefix, 2 substring, below 1 the fraction of words found."""
    popularity: int
    """Interactions with the item in the recorded sequences."""


class RecommendResponse(BaseModel):
    user: int | str | None
    history: list[Item]
    items: list[ScoredItem]
    retrieval: Literal["model", "index"]
    took_ms: float


class SimilarResponse(BaseModel):
    query: Item
    metric: Literal["cosine", "dot"]
    items: list[ScoredItem]
    took_ms: float


class SearchResponse(BaseModel):
    query: str
    items: list[SearchHit]
    took_ms: float


class IndexOut(BaseModel):
    kind: str
    params: dict[str, int]
    recall: dict[str, float]
    recall_queries: int
    build_seconds: float


class MetadataResponse(BaseModel):
    model: str
    dataset: str
    partial_dataset: bool
    num_items: int
    num_users: int
    max_len: int
    has_titles: bool
    item_meta_columns: list[str]
    config: dict[str, Any] | None
    index: IndexOut | None
    limits: dict[str, int]


class HealthResponse(BaseModel):
    status: Literal["ok"]
    num_items: int
    uptime_s: float


# ---------------------------------------------------------------------- errors
def field_error(loc: list[str | int], msg: str, kind: str, **extra: Any) -> HTTPException:
    """A 422 in FastAPI's validation-error shape, naming the field."""
    return HTTPException(status_code=422, detail=[{"loc": loc, "msg": msg, "type": kind, **extra}])


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"], "input": _jsonable(e.get("input"))}
        for e in exc.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": errors})


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    text = json.dumps(value)
    return value if len(text) <= 200 else text[:200] + "..."


class BodyLimit:
    """Refuse request bodies above ``max_bytes`` with 413 (Content-Length or counted while streaming)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(body)
            more = message.get("more_body", False)
        replay = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        sent = False

        async def replayed() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return replay
            return await receive()

        await self.app(scope, replayed, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = [
            {
                "loc": ["body"],
                "msg": f"request body larger than {self.max_bytes} bytes",
                "type": "body_too_large",
            }
        ]
        await JSONResponse(status_code=413, content={"detail": detail})(scope, receive, send)


# ---------------------------------------------------------------------- the app
def create_app(rec: Recommender, *, max_body_bytes: int = LIMITS.max_body_bytes) -> FastAPI:
    """An app serving ``rec`` (already loaded). Model work runs on one thread, in arrival order."""
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seqrec-model")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        worker.shutdown(wait=True)

    async def on_model(fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the one model thread: requests queue in arrival order (FIFO)."""
        return await asyncio.get_running_loop().run_in_executor(worker, fn, *args)

    app = FastAPI(
        title="seqrec",
        summary=f"Sequential recommendations from a {type(rec.model).__name__} over {rec.data.name}",
        version=_version(),
        lifespan=lifespan,
    )
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    started = time.monotonic()
    data = rec.data
    limits = {**LIMITS.__dict__, "max_body_bytes": max_body_bytes}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE_HTML)

    @app.get("/health")
    def health() -> HealthResponse:
        return HealthResponse(status="ok", num_items=data.num_items, uptime_s=time.monotonic() - started)

    @app.get("/metadata")
    def metadata() -> MetadataResponse:
        index = None
        if rec.index is not None:
            info = rec.index.info
            index = IndexOut(
                kind=info.kind,
                params=info.params,
                recall=info.recall,
                recall_queries=info.recall_queries,
                build_seconds=info.build_seconds,
            )
        meta_cols = [] if data.item_meta is None else [c for c in data.item_meta.columns if c != "item"]
        return MetadataResponse(
            model=type(rec.model).__name__,
            dataset=data.name,
            partial_dataset=data.partial,
            num_items=data.num_items,
            num_users=data.num_users,
            max_len=rec.max_len,
            has_titles=rec.has_titles,
            item_meta_columns=meta_cols,
            config=None if rec.config is None else rec.config.model_dump(mode="json"),
            index=index,
            limits=limits,
        )

    @app.post("/recommend")
    async def recommend(req: RecommendRequest) -> RecommendResponse:
        start = time.perf_counter()
        return await on_model(_recommend, req, start)

    def _recommend(req: RecommendRequest, start: float) -> RecommendResponse:
        exclude = _resolve_ids(rec, req.exclude, "exclude")
        include = None if req.include_only is None else _resolve_ids(rec, req.include_only, "include_only")
        allowed = rec.allowed_internal(exclude if len(exclude) else None, include)
        if req.user is not None:
            user, row = _resolve_user(rec, req.user)
            seqs, history = data.sequences, data.sequences.row(row)
            user_ids = torch.tensor([row + 1])
        else:
            user, row = None, 0
            history = _resolve_history(rec, req)
            seqs = Sequences(np.array([0, len(history)]), history, np.zeros(len(history), dtype=np.int64))
            user_ids = torch.zeros(1, dtype=torch.long)
        used: Literal["model", "index"] = "index" if rec.index is not None and include is None else "model"
        ranked = rec.rank(
            seqs,
            np.array([row]),
            user_ids,
            k=req.k,
            filter_seen=req.filter_seen,
            allowed=allowed,
            retrieval=used,
        )
        return RecommendResponse(
            user=user,
            history=_items(rec, history[-rec.max_len :]),
            items=_scored(rec, ranked),
            retrieval=used,
            took_ms=_ms(start),
        )

    @app.get("/similar")
    async def similar(
        item: Annotated[str | None, Query(max_length=LIMITS.max_query_chars)] = None,
        title: Annotated[str | None, Query(min_length=1, max_length=LIMITS.max_query_chars)] = None,
        k: Annotated[int, Query(ge=1, le=LIMITS.max_k)] = 10,
        metric: Literal["cosine", "dot"] = "cosine",
    ) -> SimilarResponse:
        start = time.perf_counter()
        if (item is None) == (title is None):
            raise field_error(["query", "item"], "give exactly one of item, title", "value_error")
        return await on_model(_similar, item, title, k, metric, start)

    def _similar(
        item: str | None, title: str | None, k: int, metric: Literal["cosine", "dot"], start: float
    ) -> SimilarResponse:
        if title is not None:
            internal = _titles_to_ids(rec, [title], ["query", "title"])
        else:
            internal = _resolve_ids(rec, [item], "item", where="query")
        ranked = rec.similar(internal, k, metric=metric)
        return SimilarResponse(
            query=_items(rec, internal)[0], metric=metric, items=_scored(rec, ranked), took_ms=_ms(start)
        )

    @app.get("/search")
    async def search(
        q: Annotated[str, Query(min_length=1, max_length=LIMITS.max_query_chars)],
        k: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> SearchResponse:
        start = time.perf_counter()
        if not rec.has_titles:
            raise field_error(["query", "q"], f"dataset {data.name!r} has no item titles", "no_titles")
        if not q.strip():
            raise field_error(["query", "q"], "the query is blank", "value_error")
        return await on_model(_search, q, k, start)

    def _search(q: str, k: int, start: float) -> SearchResponse:
        found = rec.search(q, k)
        extra = [c for c in found.columns if c not in ("item", "title", "match", "popularity")]
        hits = [
            SearchHit(
                item=row["item"],
                title=row["title"],
                match=row["match"],
                popularity=row["popularity"],
                meta=_meta({c: row[c] for c in extra}),
            )
            for row in found.iter_rows(named=True)
        ]
        return SearchResponse(query=q, items=hits, took_ms=_ms(start))

    return app


# ---------------------------------------------------------------------- helpers
def _resolve_history(rec: Recommender, req: RecommendRequest) -> np.ndarray:
    """An ad-hoc history as internal item ids."""
    if req.history is not None:
        return _resolve_ids(rec, req.history, "history")
    assert req.history_titles is not None
    return _titles_to_ids(rec, req.history_titles, ["body", "history_titles"])


def _resolve_ids(rec: Recommender, values: list[Any], field: str, where: str = "body") -> np.ndarray:
    """Internal ids of external item ids; 422 naming the first unknown one."""
    typed = _typed(values, rec.data.items.dtype.is_integer())
    internal = rec.lookup_items(typed)
    missing = np.flatnonzero(internal == 0)
    if len(missing):
        pos = int(missing[0])
        loc: list[str | int] = [where, field] if where == "query" else [where, field, pos]
        raise field_error(loc, f"unknown item id {values[pos]!r}", "unknown_item", input=values[pos])
    return internal


def _resolve_user(rec: Recommender, user: int | str) -> tuple[Any, int]:
    """The user's external id (vocabulary type) and row; 422 on ``user`` when unknown."""
    vocab = rec.data.users
    typed = _typed([user], vocab.dtype.is_integer())[0]
    internal = 0 if typed is None else int(vocab.to_internal([typed], unknown="zero")[0])
    if internal == 0:
        raise field_error(["body", "user"], f"unknown user id {user!r}", "unknown_user", input=user)
    return typed, internal - 1


def _typed(values: list[int | str], integer: bool) -> list[Any]:
    """Ids as the vocabulary stores them: ints (None when a string is not an integer) or strings."""
    if not integer:
        return [str(v) for v in values]
    return [v if isinstance(v, int) else (int(v) if _INT.fullmatch(v.strip()) else None) for v in values]


_INT = re.compile(r"-?\d+")


def _titles_to_ids(rec: Recommender, titles: list[str], loc: list[str | int]) -> np.ndarray:
    if not rec.has_titles:
        raise field_error(loc, f"dataset {rec.data.name!r} has no item titles; give item ids", "no_titles")
    try:
        return rec.items_from_titles(titles)
    except UnknownTitleError as exc:
        where = [*loc, exc.position] if loc[0] == "body" else loc
        suggestions = [{"item": i, "title": t} for i, t in exc.suggestions]
        raise field_error(where, str(exc), "unknown_title", suggestions=suggestions) from None
    except AmbiguousTitleError as exc:
        where = [*loc, exc.position] if loc[0] == "body" else loc
        candidates = [{"item": i, "title": t} for i, t in exc.candidates]
        raise field_error(where, str(exc), "ambiguous_title", candidates=candidates) from None


def _items(rec: Recommender, internal: np.ndarray) -> list[Item]:
    return [Item(item=r["item"], title=r["title"], meta=_meta(r["meta"])) for r in rec.item_records(internal)]


def _meta(values: dict[str, Any]) -> dict[str, MetaValue]:
    return {key: _meta_value(value) for key, value in values.items()}


def _meta_value(value: Any) -> MetaValue:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [v if v is None or isinstance(v, str | int | float | bool) else str(v) for v in value]
    return str(value)


def _scored(rec: Recommender, ranked: RankedLists) -> list[ScoredItem]:
    """The first row of ``ranked`` as response items (empty slots dropped)."""
    ids, scores = ranked.ids[0], ranked.scores[0]
    keep = np.flatnonzero(ids > 0)
    records = rec.item_records(ids[keep])
    return [
        ScoredItem(rank=rank, score=float(scores[j]), item=r["item"], title=r["title"], meta=_meta(r["meta"]))
        for rank, (j, r) in enumerate(zip(keep, records, strict=True), start=1)
    ]


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def _version() -> str:
    from seqrec import __version__

    return __version__


__all__ = ["LIMITS", "Limits", "RecommendRequest", "create_app"]
