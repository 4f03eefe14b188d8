"""A client-side ledger of task writes spread over several servers, and its check against what the database holds.

Each task belongs to one client thread, which sends its operations one after
another, each to the next server in turn: create on one process, patch on the
next, read it back on the third. So the last acknowledged write of a task is
well defined, and a read on another process must return it.

"Acknowledged" is a 2xx answer. A request whose connection failed before
anything was sent (connection refused) was not sent: it is retried on the next
server. A request that failed after it was sent has an unknown outcome: the row
may be in either state, and the task is abandoned, so the database's final
state tells whether that request was applied.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

State = tuple[str, str, str, str]  # title, description, priority, status
PRIORITIES = ("low", "medium", "high")
STATUSES = ("todo", "in_progress", "done")
REQUEST_TIMEOUT = 60.0  # hang guard: only a request stuck past every server-side timeout gets near it
# Per task: create, then patches and reads, each on the next server; every other task is deleted at the end.
SCRIPT = ("create", "patch", "get", "patch", "get")


def state_of(body: Mapping[str, Any]) -> State:
    return (body["title"], body["description"], body["priority"], body["status"])


def token_of(title: str) -> str:
    return title.split(" ", 1)[0]


@dataclass
class TaskEntry:
    """One task's history as the client saw it: every state its row may be in (None: no row)."""

    token: str  # unique to this task, the first word of every title it is given
    task_id: int | None = None
    possible: set[State | None] = field(default_factory=lambda: {None})
    version: int = 0
    abandoned: bool = False  # an outcome is unknown: no more operations, so the database shows what happened
    unknown: tuple[str, State | None] | None = None  # the operation whose outcome is unknown, and its result

    def next_state(self) -> State:
        self.version += 1
        return (
            f"{self.token} v{self.version}",
            f"{self.token} description {self.version}",
            PRIORITIES[self.version % 3],
            STATUSES[self.version % 3],
        )


@dataclass
class Attempt:
    server: int
    operation: str
    sent_at: float  # time.monotonic()
    outcome: str  # "acknowledged", "refused" (not sent), "unknown" (sent, no answer), "status NNN"
    detail: str = ""


EXPECTED_STATUS = {"create": 201, "patch": 200, "get": 200, "delete": 204}


class Ledger:
    def __init__(self, servers: Sequence[str]) -> None:
        self.servers = list(servers)
        self.tasks: list[TaskEntry] = []
        self.attempts: list[Attempt] = []
        self.acknowledged_ids: list[int] = []
        self.read_mismatches: list[str] = []
        self._lock = threading.Lock()

    def new_task(self, token: str) -> TaskEntry:
        entry = TaskEntry(token)
        with self._lock:
            self.tasks.append(entry)
        return entry

    def outcomes(
        self, servers: Sequence[int] | None = None, *, after: float = 0.0, before: float = float("inf")
    ) -> Counter[str]:
        """Outcomes of the requests sent to `servers` (default: all) between `after` and `before`."""
        with self._lock:
            attempts = list(self.attempts)
        return Counter(
            attempt.outcome
            for attempt in attempts
            if (servers is None or attempt.server in servers) and after <= attempt.sent_at < before
        )

    def perform(
        self, client: httpx.Client, task: TaskEntry, operation: str, server: int, *, retry: bool
    ) -> tuple[int, str]:
        """Send `operation` on `task` to `server` (with retry: to the next servers while refused).

        The server that answered (or the last one tried) and the outcome.
        """
        index, outcome = server, "refused"
        for offset in range(len(self.servers) if retry else 1):
            index = (server + offset) % len(self.servers)
            outcome = self._send(client, task, operation, index)
            if outcome != "refused":
                return index, outcome
        return index, outcome

    def _send(self, client: httpx.Client, task: TaskEntry, operation: str, server: int) -> str:
        base = self.servers[server]
        new_state: State | None = None
        sent_at = time.monotonic()
        try:
            if operation == "create":
                new_state = task.next_state()
                title, description, priority, status = new_state
                body = {"title": title, "description": description, "priority": priority, "status": status}
                response = client.post(f"{base}/tasks", json=body)
            elif operation == "patch":
                new_state = task.next_state()
                title, description, priority, status = new_state
                body = {"title": title, "description": description, "priority": priority, "status": status}
                response = client.patch(f"{base}/tasks/{task.task_id}", json=body)
            elif operation == "delete":
                response = client.delete(f"{base}/tasks/{task.task_id}")
            else:
                response = client.get(f"{base}/tasks/{task.task_id}")
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            task.version -= new_state is not None  # nothing was sent: the same state is offered again
            return self._record(Attempt(server, operation, sent_at, "refused", type(exc).__name__))
        except httpx.TransportError as exc:
            if operation != "get":
                self._unknown(task, operation, new_state)
            return self._record(Attempt(server, operation, sent_at, "unknown", type(exc).__name__))
        if response.status_code != EXPECTED_STATUS[operation]:
            # Not acknowledged. A definite error answer should mean nothing changed,
            # but the ledger does not rely on it: the outcome counts as unknown.
            if operation != "get":
                self._unknown(task, operation, new_state)
            return self._record(Attempt(server, operation, sent_at, f"status {response.status_code}", response.text))
        self._acknowledge(task, operation, new_state, response)
        return self._record(Attempt(server, operation, sent_at, "acknowledged"))

    def _record(self, attempt: Attempt) -> str:
        with self._lock:
            self.attempts.append(attempt)
        return attempt.outcome

    def _acknowledge(self, task: TaskEntry, operation: str, new_state: State | None, response: httpx.Response) -> None:
        if operation == "delete":
            task.possible = {None}
            return
        answered = state_of(response.json())
        if operation == "get":
            if task.possible != {answered}:
                with self._lock:
                    self.read_mismatches.append(f"{task.token}: read {answered}, last acknowledged {task.possible}")
            return
        if answered != new_state:
            with self._lock:
                self.read_mismatches.append(f"{task.token}: {operation} answered {answered}, sent {new_state}")
        if operation == "create":
            task.task_id = response.json()["id"]
            with self._lock:
                self.acknowledged_ids.append(response.json()["id"])
        task.possible = {new_state}

    def _unknown(self, task: TaskEntry, operation: str, new_state: State | None) -> None:
        task.possible = task.possible | {new_state}
        task.abandoned = True
        task.unknown = (operation, new_state)


def run_client(
    ledger: Ledger,
    number: int,
    *,
    tasks: int,
    before_last_task: Callable[[], object] = lambda: None,
) -> None:
    """Client `number`: `tasks` tasks through SCRIPT (odd-numbered ones then deleted), rotating over the servers."""
    server = number
    with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
        for index in range(tasks):
            if index == tasks - 1:
                before_last_task()
            task = ledger.new_task(f"c{number}t{index}")
            for operation in SCRIPT + (("delete",) if index % 2 else ()):
                if task.abandoned or (operation != "create" and task.task_id is None):
                    break
                used, _ = ledger.perform(client, task, operation, server % len(ledger.servers), retry=True)
                server = used + 1


@dataclass
class Verdict:
    problems: list[str]
    rows: int
    unknown: int  # operations whose outcome the client could not know
    unknown_applied: int  # of those, how many the database shows applied


def check(ledger: Ledger, rows: Mapping[int, State]) -> Verdict:
    """Compare the ledger with the table's rows (id -> state): what is wrong, as readable lines."""
    problems = list(ledger.read_mismatches)
    duplicates = [task_id for task_id, count in Counter(ledger.acknowledged_ids).items() if count > 1]
    if duplicates:
        problems.append(f"ids acknowledged to two creates: {duplicates}")
    known = {task.task_id: task for task in ledger.tasks if task.task_id is not None}
    by_token = {task.token: task for task in ledger.tasks}
    unknown = applied = 0
    for task in ledger.tasks:
        if task.task_id is not None and rows.get(task.task_id) not in task.possible:
            problems.append(f"{task.token} (id {task.task_id}): row {rows.get(task.task_id)}, expected {task.possible}")
        if task.unknown is not None:
            unknown += 1
    seen_tokens: Counter[str] = Counter()
    for task_id, state in rows.items():
        token = token_of(state[0])
        seen_tokens[token] += 1
        if task_id in known:
            continue
        owner = by_token.get(token)
        # A row no create was acknowledged for: only a create whose answer was lost may have made it.
        if owner is None or owner.task_id is not None or state not in owner.possible:
            problems.append(f"row {task_id} {state} matches no request whose outcome is unknown")
    problems += [f"token {token} in {count} rows" for token, count in seen_tokens.items() if count > 1]
    for task in ledger.tasks:
        if task.unknown is None:
            continue
        operation, result = task.unknown
        if operation == "create":
            applied += seen_tokens[task.token] > 0
        elif task.task_id is not None:
            applied += rows.get(task.task_id) == result
    return Verdict(problems=problems, rows=len(rows), unknown=unknown, unknown_applied=applied)
