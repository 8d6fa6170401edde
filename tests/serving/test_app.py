"""HTTP API round trips with FastAPI's TestClient: answers, bounds (422 naming the field), concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from seqrec.cli import app as cli
from seqrec.serving import Recommender
from seqrec.serving.app import LIMITS, create_app


@pytest.fixture(scope="module")
def client(rec: Recommender) -> TestClient:
    return TestClient(create_app(rec, max_body_bytes=4096))


def locs(response: Any) -> list[list[Any]]:
    return [d["loc"] for d in response.json()["detail"]]


def test_health_and_metadata(client: TestClient) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["num_items"] == 60
    meta = client.get("/metadata").json()
    assert meta["model"] == "SASRec" and meta["dataset"] == "synthetic"
    assert meta["index"]["kind"] == "exact" and meta["index"]["recall"]["recall@10"] == 1.0
    assert meta["item_meta_columns"] == ["title", "genres", "year", "attributes"]
    assert meta["config"]["model"]["hidden"] == 16
    assert meta["limits"]["max_k"] == LIMITS.max_k


def test_recommend_for_a_known_user(client: TestClient, rec: Recommender) -> None:
    response = client.post("/recommend", json={"user": 3, "k": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = rec.recommend(users=[3], k=5)
    assert [r["item"] for r in body["items"]] == expected["item"].to_list()
    assert [r["rank"] for r in body["items"]] == [1, 2, 3, 4, 5]
    assert body["items"][0]["title"] == expected["title"][0]
    assert set(body["items"][0]["meta"]) == {"genres", "year", "attributes"}
    assert body["history"][0]["meta"]["attributes"] == [
        (body["history"][0]["item"] - 1) % 7,
        (body["history"][0]["item"] - 1) % 5,
    ]
    assert body["user"] == 3 and body["retrieval"] == "index"
    row = int(rec.data.users.to_internal([3])[0]) - 1
    assert [h["item"] for h in body["history"]] == rec.data.sequences.row(row)[-10:].tolist()
    assert client.post("/recommend", json={"user": "3", "k": 5}).json()["items"] == body["items"]


def test_recommend_for_a_history_filters_it(client: TestClient) -> None:
    history = [10, 11, 12, 13]
    body = client.post("/recommend", json={"history": history, "k": 56}).json()
    assert len(body["items"]) == 56
    assert not set(history) & {r["item"] for r in body["items"]}
    kept = client.post("/recommend", json={"history": history, "k": 60, "filter_seen": False}).json()
    assert set(history) <= {r["item"] for r in kept["items"]}
    by_title = client.post(
        "/recommend", json={"history_titles": ["film 10", "Film 11", "FILM 12", "Film 13"], "k": 56}
    )
    assert by_title.json()["items"] == body["items"]
    assert [h["title"] for h in by_title.json()["history"]] == ["Film 10", "Film 11", "Film 12", "Film 13"]


def test_recommend_with_filters(client: TestClient) -> None:
    body = client.post(
        "/recommend", json={"history": [1, 2], "k": 10, "include_only": [5, 6, 7], "exclude": [6]}
    ).json()
    assert sorted(r["item"] for r in body["items"]) == [5, 7]
    assert body["retrieval"] == "model"


def test_similar_and_search(client: TestClient, rec: Recommender) -> None:
    body = client.get("/similar", params={"item": "5", "k": 4}).json()
    assert body["query"]["item"] == 5 and body["metric"] == "cosine"
    assert [r["item"] for r in body["items"]] == rec.similar_items(5, 4)["item"].to_list()
    by_title = client.get("/similar", params={"title": "film 5", "k": 4, "metric": "dot"}).json()
    assert by_title["query"]["title"] == "Film 5" and by_title["metric"] == "dot"
    found = client.get("/search", params={"q": "film 2", "k": 3}).json()
    assert found["items"][0]["title"] == "Film 2"
    assert found["items"][0]["match"] == 4.0 and found["items"][0]["meta"]["genres"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"history": [1], "k": 0}, ["body", "k"]),
        ({"history": [1], "k": LIMITS.max_k + 1}, ["body", "k"]),
        ({"history": [1] * (LIMITS.max_history + 1)}, ["body", "history"]),
        ({"history": []}, ["body", "history"]),
        ({"history": [1, 2], "extra": 1}, ["body", "extra"]),
        ({"history_titles": [""]}, ["body", "history_titles", 0]),
        ({"history": [1], "exclude": "abc"}, ["body", "exclude"]),
        ({"history": [1], "filter_seen": "maybe"}, ["body", "filter_seen"]),
        ({"user": 3, "history": [1]}, ["body"]),
        ({}, ["body"]),
    ],
)
def test_invalid_requests_are_422_naming_the_field(
    client: TestClient, body: dict[str, Any], loc: list[Any]
) -> None:
    response = client.post("/recommend", json=body)
    assert response.status_code == 422, response.text
    assert loc in locs(response)


def test_unknown_ids_and_titles_are_422_naming_the_field(client: TestClient) -> None:
    response = client.post("/recommend", json={"history": [1, 999]})
    assert response.status_code == 422 and locs(response) == [["body", "history", 1]]
    response = client.post("/recommend", json={"history": [1, "x"]})
    assert locs(response) == [["body", "history", 1]]
    response = client.post("/recommend", json={"user": 12345})
    assert response.status_code == 422 and locs(response) == [["body", "user"]]
    response = client.post("/recommend", json={"history": [1], "exclude": [2, 3, 777]})
    assert locs(response) == [["body", "exclude", 2]]
    response = client.post("/recommend", json={"history_titles": ["Film 1", "Film 1000"]})
    detail = response.json()["detail"][0]
    assert response.status_code == 422 and detail["loc"] == ["body", "history_titles", 1]
    assert detail["type"] == "unknown_title" and detail["suggestions"]
    response = client.post("/recommend", json={"history_titles": ["twin film"]})
    detail = response.json()["detail"][0]
    assert detail["type"] == "ambiguous_title" and {c["item"] for c in detail["candidates"]} == {59, 60}


def test_invalid_query_parameters(client: TestClient) -> None:
    assert locs(client.get("/similar", params={"item": 5, "k": 100_000})) == [["query", "k"]]
    assert locs(client.get("/similar", params={"item": 5, "metric": "l2"})) == [["query", "metric"]]
    assert locs(client.get("/similar", params={"item": 999})) == [["query", "item"]]
    assert locs(client.get("/similar")) == [["query", "item"]]
    unknown = client.get("/similar", params={"title": "Flim 5"})
    assert locs(unknown) == [["query", "title"]] and unknown.json()["detail"][0]["suggestions"]
    assert locs(client.get("/search")) == [["query", "q"]]
    assert locs(client.get("/search", params={"q": "x" * 500})) == [["query", "q"]]


def test_large_bodies_are_refused(client: TestClient) -> None:
    response = client.post("/recommend", json={"history": [1], "exclude": [2] * 3000})
    assert response.status_code == 413
    assert response.json()["detail"][0]["type"] == "body_too_large"


def test_concurrent_requests_give_sequential_answers(client: TestClient) -> None:
    bodies = [{"history": [i, i + 1, i + 2], "k": 10} for i in range(1, 25)]
    sequential = [client.post("/recommend", json=b).json()["items"] for b in bodies]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda b: client.post("/recommend", json=b).json()["items"], bodies))
    assert parallel == sequential


def test_demo_page_is_self_contained(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="search"' in page.text and "/recommend" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere


def test_serve_command_loads_the_run_once(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    started: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(app=app, **kw))
    result = CliRunner().invoke(cli, ["serve", str(run_dir), "--port", "8123", "--index", "exact"])
    assert result.exit_code == 0, result.output
    assert started["host"] == "127.0.0.1" and started["port"] == 8123
    assert TestClient(started["app"]).get("/health").json()["status"] == "ok"
