"""HTTP contract of /tasks, on every engine."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from tests.engines import on_every_engine

TASK_FIELDS = {"id", "title", "description", "status", "priority", "due_date", "created_at", "updated_at"}

pytestmark = on_every_engine


def create(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/tasks", json={"title": "Write tests", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def count(client: TestClient) -> int:
    total: int = client.get("/tasks").json()["total"]
    return total


def test_create_returns_201_with_location_and_defaults(client: TestClient) -> None:
    response = client.post("/tasks", json={"title": "Write tests"})

    assert response.status_code == 201
    task = response.json()
    assert set(task) == TASK_FIELDS
    assert response.headers["location"] == f"/tasks/{task['id']}"
    assert task["title"] == "Write tests"
    assert task["description"] is None
    assert task["status"] == "todo"
    assert task["priority"] == "medium"
    assert task["due_date"] is None


def test_create_accepts_every_field(client: TestClient) -> None:
    task = create(client, description="d", status="in_progress", priority="high", due_date="2030-02-28")

    assert (task["description"], task["status"], task["priority"], task["due_date"]) == (
        "d",
        "in_progress",
        "high",
        "2030-02-28",
    )


def test_timestamps_are_utc_iso8601_with_offset(client: TestClient) -> None:
    task = create(client)

    for field in ("created_at", "updated_at"):
        stamp = datetime.fromisoformat(task[field])
        assert stamp.utcoffset() == timedelta(0)
    assert task["created_at"] == task["updated_at"]


def test_title_is_trimmed(client: TestClient) -> None:
    assert create(client, title="  padded \t")["title"] == "padded"


@pytest.mark.parametrize("title", ["a", "x" * 200, " " + "x" * 200 + " "])
def test_title_of_1_to_200_chars_is_accepted(client: TestClient, title: str) -> None:
    assert create(client, title=title)["title"] == title.strip()


@pytest.mark.parametrize("title", ["", "   ", "x" * 201, None, 42, ["a"]])
def test_invalid_title_is_rejected(client: TestClient, title: object) -> None:
    response = client.post("/tasks", json={"title": title})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "title"]


def test_missing_title_is_rejected(client: TestClient) -> None:
    assert client.post("/tasks", json={"description": "no title"}).status_code == 422


def test_description_limit_is_2000_chars(client: TestClient) -> None:
    assert create(client, description="d" * 2000)["description"] == "d" * 2000
    assert client.post("/tasks", json={"title": "t", "description": "d" * 2001}).status_code == 422


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "finished"},
        {"status": "TODO"},
        {"priority": "urgent"},
        {"due_date": "2024-13-01"},
        {"due_date": "tomorrow"},
        {"due_date": "2024-02-30"},
        {"due_date": "0"},  # a digit string: lax parsing would read a Unix timestamp
        {"due_date": "20300131"},
        {"due_date": 0},
        {"owner": "someone"},
        {"id": 5},
    ],
)
def test_invalid_or_unknown_fields_are_rejected_and_nothing_is_written(
    client: TestClient, fields: dict[str, Any]
) -> None:
    response = client.post("/tasks", json={"title": "t", **fields})

    assert response.status_code == 422
    assert "detail" in response.json()
    assert count(client) == 0


@pytest.mark.parametrize("body", ["not json", "[1, 2]", ""])
def test_malformed_body_is_rejected(client: TestClient, body: str) -> None:
    response = client.post("/tasks", content=body, headers={"content-type": "application/json"})

    assert response.status_code == 422
    assert "detail" in response.json()


def test_get_returns_the_task(client: TestClient) -> None:
    task = create(client)

    response = client.get(f"/tasks/{task['id']}")

    assert response.status_code == 200
    assert response.json() == task


def test_get_missing_task_returns_404(client: TestClient) -> None:
    response = client.get("/tasks/999")

    assert response.status_code == 404
    assert response.json() == {"detail": "Task 999 not found"}


@pytest.mark.parametrize("task_id", ["abc", "0", "-1", str(2**63)])
def test_get_with_invalid_id_returns_422(client: TestClient, task_id: str) -> None:
    assert client.get(f"/tasks/{task_id}").status_code == 422


def test_list_pages_in_id_order(client: TestClient) -> None:
    ids = [create(client, title=f"task {n}")["id"] for n in range(5)]

    first = client.get("/tasks", params={"limit": 2}).json()
    rest = client.get("/tasks", params={"limit": 10, "offset": 2}).json()

    assert [task["id"] for task in first["items"]] == ids[:2]
    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    assert [task["id"] for task in rest["items"]] == ids[2:]
    assert (rest["total"], rest["limit"], rest["offset"]) == (5, 10, 2)


def test_list_defaults_to_20_items(client: TestClient) -> None:
    for n in range(21):
        create(client, title=f"task {n}")

    page = client.get("/tasks").json()

    assert (len(page["items"]), page["total"], page["limit"], page["offset"]) == (20, 21, 20, 0)


def test_list_filters_by_status_and_priority(client: TestClient) -> None:
    create(client, status="done", priority="high")
    wanted = create(client, status="done", priority="low")
    create(client, status="todo", priority="low")

    page = client.get("/tasks", params={"status": "done", "priority": "low"}).json()

    assert page["items"] == [wanted]
    assert page["total"] == 1


def test_list_of_empty_database(client: TestClient) -> None:
    assert client.get("/tasks").json() == {"items": [], "total": 0, "limit": 20, "offset": 0}


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "ten"}, {"status": "open"}, {"priority": "urgent"}],
)
def test_list_rejects_out_of_range_or_unknown_query_values(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get("/tasks", params=params)

    assert response.status_code == 422
    assert "detail" in response.json()


@pytest.mark.parametrize("limit", [1, 100])
def test_list_accepts_limit_bounds(client: TestClient, limit: int) -> None:
    assert client.get("/tasks", params={"limit": limit}).json()["limit"] == limit


def test_patch_changes_only_the_given_fields(client: TestClient) -> None:
    task = create(client, description="keep me", priority="low")

    response = client.patch(f"/tasks/{task['id']}", json={"status": "done", "title": "  renamed "})

    assert response.status_code == 200
    patched = response.json()
    assert patched["status"] == "done"
    assert patched["title"] == "renamed"
    unchanged = {key: value for key, value in task.items() if key not in {"status", "title", "updated_at"}}
    assert {key: patched[key] for key in unchanged} == unchanged
    assert datetime.fromisoformat(patched["updated_at"]) > datetime.fromisoformat(task["updated_at"])
    assert client.get(f"/tasks/{task['id']}").json() == patched


def test_patch_can_clear_nullable_fields(client: TestClient) -> None:
    task = create(client, description="d", due_date="2030-01-01")

    patched = client.patch(f"/tasks/{task['id']}", json={"description": None, "due_date": None}).json()

    assert (patched["description"], patched["due_date"]) == (None, None)


@pytest.mark.parametrize(
    "body",
    [
        {"title": None},
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 201},
        {"status": None},
        {"priority": None},
        {"status": "finished"},
        {"due_date": "2024-02-30"},
        {"colour": "red"},
    ],
)
def test_invalid_patch_is_rejected_and_changes_nothing(client: TestClient, body: dict[str, Any]) -> None:
    task = create(client)

    response = client.patch(f"/tasks/{task['id']}", json=body)

    assert response.status_code == 422
    assert client.get(f"/tasks/{task['id']}").json() == task


def test_empty_patch_returns_the_task_unchanged(client: TestClient) -> None:
    task = create(client)

    assert client.patch(f"/tasks/{task['id']}", json={}).json() == task


def test_patch_missing_task_returns_404(client: TestClient) -> None:
    response = client.patch("/tasks/999", json={"status": "done"})

    assert response.status_code == 404
    assert response.json() == {"detail": "Task 999 not found"}


def test_delete_returns_204_with_empty_body_and_removes_the_task(client: TestClient) -> None:
    task = create(client)

    response = client.delete(f"/tasks/{task['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"/tasks/{task['id']}").status_code == 404


def test_delete_missing_task_returns_404(client: TestClient) -> None:
    response = client.delete("/tasks/999")

    assert response.status_code == 404
    assert response.json() == {"detail": "Task 999 not found"}


def test_tasks_persist_across_app_restarts(client: TestClient, settings: Settings) -> None:
    task = create(client)

    with TestClient(create_app(settings)) as restarted:
        assert restarted.get(f"/tasks/{task['id']}").json() == task
