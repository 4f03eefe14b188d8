"""Baseline 2: GET /tasks/{id} as the SQLModel tutorial writes it, over the service's database.

A sync `def` endpoint, a new Session per request from a yield dependency, the
engine's default pool (5 + 10 overflow connections against a 40-thread pool)
and request logging through @app.middleware("http"). DATABASE_URL is the
service's database: its SQLite file, or the benchmark's PostgreSQL (bench/postgres.py).
"""

import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from sqlmodel import Field, Session, SQLModel, create_engine

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
logger = logging.getLogger("tutorial")


class Task(SQLModel, table=True):
    __tablename__ = "tasks"

    id: int | None = Field(default=None, primary_key=True)
    title: str
    description: str | None = None
    status: str
    priority: str
    due_date: date | None = None
    created_at: datetime
    updated_at: datetime


DATABASE_URL = os.environ["DATABASE_URL"]
# As the tutorial: check_same_thread for SQLite (a session may move between threads); nothing for PostgreSQL.
engine = create_engine(
    DATABASE_URL, connect_args={"check_same_thread": False} if DATABASE_URL.startswith("sqlite") else {}
)


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
app = FastAPI()


@app.middleware("http")
async def log_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    started = time.perf_counter()
    response = await call_next(request)
    elapsed_ms = (time.perf_counter() - started) * 1000
    logger.info("%s %s %d %.2fms", request.method, request.url.path, response.status_code, elapsed_ms)
    return response


@app.get("/tasks/{task_id}")
def read_task(task_id: int, session: SessionDep) -> Task:
    task = session.get(Task, task_id)
    if not task:
        raise HTTPException(status_code=404, detail="Task not found")
    return task
