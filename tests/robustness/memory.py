"""Peak resident memory of a process, read from /proc (Linux): the growth a drill caused, not just where it ended."""

from __future__ import annotations

from pathlib import Path


def status_kib(pid: int, field: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM, ...), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


class PeakWatch:
    """Resets the process's peak RSS (VmHWM) to its current RSS; `growth_kib()` is how far the peak rose since."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        # "5" resets VmHWM to VmRSS (proc(5), clear_refs; Linux 4.0+). Needs the owner or root.
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        self.before_kib = status_kib(pid, "VmRSS")

    def growth_kib(self) -> int:
        return status_kib(self.pid, "VmHWM") - self.before_kib
