"""Assemble the root filesystem of the FROM scratch `minimal` target.

Runs in a throwaway stage built on the same python:*-alpine base as
`production`, with the service's virtual environment and code in /app. It works
the same on musl (real Alpine) and on glibc (the offline stand-in): shared
libraries are found by running the service and reading /proc/<pid>/maps, never
by knowing where a given libc keeps its files.

  1. prune the standard library in place (this stage is thrown away) of what
     the service never imports, the environment of type stubs and C/Cython
     sources, and drop all bytecode;
  2. start the real server (`python -m service`, the image's CMD), exercise it
     over HTTP, import the PostgreSQL driver and dialect in a second process
     (checking psycopg's binary implementation loads; no server to serve on
     here), run the HEALTHCHECK command, read both processes' maps, and
     stop the server with SIGTERM: the pruned tree must serve the API. The
     .pyc files the processes write mark the modules they imported (in
     the standard library and the environment), the only ones kept
     byte-compiled;
  3. dlopen() every kept extension module (without running it), so libraries
     of modules the smoke run did not import are mapped too; a missing
     dependency fails the build;
  4. copy into ROOTFS: the mapped files, their symlink aliases (SONAME links
     such as libz.so.1), the ELF interpreter the python binary names
     (ld-musl-x86_64.so.1 or ld-linux-x86-64.so.2), the interpreter symlink
     chain from the venv, the pruned standard library, the venv, the code,
     /etc/passwd and /etc/group with the app user, and /tmp.

Usage: python -B collect_rootfs.py ROOTFS  (-B: the collector's own imports must
leave no .pyc files, since those mark what the service imports)
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import py_compile
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

STDLIB = os.path.dirname(os.__file__)
DYNLOAD = next(path for path in sys.path if os.path.basename(path) == "lib-dynload")
VENV = sys.prefix  # run with the venv's python: /app/.venv
APP_DIR = "/app"
PORT = 8000
UID = GID = 10001
MULTIARCH = getattr(sys.implementation, "_multiarch", "")

# Standard library parts the service never imports. The smoke run below runs
# with them gone, so a wrong entry fails the build instead of production.
PRUNE = [
    "ensurepip",
    "idlelib",
    "tkinter",
    "turtledemo",
    "turtle.py",
    "test",
    "lib2to3",
    "pydoc_data",
    "distutils",
    "venv",
    "curses",
    "dbm",
    "unittest",
    "__phello__",
    "site-packages",  # the base image's pip; the venv has its own site-packages
    "config-*",  # Makefile and static library for building extensions
    # Pure-Python fallbacks of modules the interpreter has in C (_decimal, _io),
    # and tools for people at a prompt: nothing a server imports.
    "_pydecimal.py",
    "_pyio.py",
    "pydoc.py",
    "doctest.py",
    "pickletools.py",
]
PRUNE_DYNLOAD_PREFIXES = (
    "_tkinter",
    "_curses",
    "readline",
    "_dbm",
    "_gdbm",
    "nis",
    "spwd",
    "ossaudiodev",
    "_crypt",
    "_test",
    "_ctypes_test",
    "xxlimited",
    "xxsubtype",
    "_xxtestfuzz",
    "_xxsubinterpreters",
    "_xxinterpchannels",
    # East Asian legacy codecs (Shift JIS, Big5, GBK, EUC-KR, ISO-2022, ...): the
    # service speaks UTF-8 (HTTP, JSON, SQLite, PostgreSQL's client encoding by
    # default). A PostgreSQL database in such an encoding needs `production`.
    "_codecs_",
    "_multibytecodec",
)
# Files in the environment nothing imports: type stubs and the Cython and C
# sources some wheels ship next to their compiled modules.
PRUNE_VENV_SUFFIXES = (".pyi", ".pyx", ".pxd", ".pxi", ".c", ".h")
# Read with read(), never mapped, so the maps cannot show them.
READ_NOT_MAPPED = ["/etc/nsswitch.conf"]
SKIP_PREFIXES = ("/proc/", "/dev/", "/sys/", "/tmp/", "/memfd:", "/run/")
PYTHON = os.path.join(VENV, "bin", "python")
HEALTHCHECK = [PYTHON, "-m", "service.healthcheck"]
# What serving on PostgreSQL imports beyond the SQLite path: the driver (its C
# implementation, libpq bundled in psycopg_binary.libs) and SQLAlchemy's dialect.
IMPORT_POSTGRES_PATH = (
    "import psycopg, psycopg.pq, sqlalchemy\n"
    "from service.db import create_db_engine\n"
    "from service.settings import Settings\n"
    "settings = Settings(_env_file=None, database_url='postgresql+psycopg://app@127.0.0.1:1/tasks')\n"
    "create_db_engine(settings).dialect\n"
    "print(psycopg.pq.__impl__)\n"
)


def log(*parts: object) -> None:
    print("collect:", *parts, file=sys.stderr, flush=True)


def mapped_files(pid: int | str = "self") -> set[str]:
    files = set()
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            fields = line.split(None, 5)
            if len(fields) < 6:
                continue
            path = fields[5].strip()
            if path.startswith("/") and not path.endswith(" (deleted)") and not path.startswith(SKIP_PREFIXES):
                files.add(path)
    return files


def elf_interpreter(path: str) -> str | None:
    """The PT_INTERP program header of a 64-bit little-endian ELF file."""
    with open(path, "rb") as elf:
        header = elf.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
            return None
        (phoff,) = struct.unpack_from("<Q", header, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", header, 0x36)
        for index in range(phnum):
            elf.seek(phoff + index * phentsize)
            p_type, _flags, offset, _vaddr, _paddr, size = struct.unpack("<IIQQQQ", elf.read(40))
            if p_type == 3:  # PT_INTERP
                elf.seek(offset)
                return elf.read(size).rstrip(b"\0").decode()
    return None


def prune_stdlib() -> None:
    for path in (found for name in PRUNE for found in glob.glob(os.path.join(STDLIB, name))):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    for name in os.listdir(DYNLOAD):
        if name.startswith(PRUNE_DYNLOAD_PREFIXES):
            os.unlink(os.path.join(DYNLOAD, name))
    for root, _dirs, files in os.walk(VENV):
        for name in files:
            if name.endswith(PRUNE_VENV_SUFFIXES):
                os.unlink(os.path.join(root, name))
    for root, dirs, _files in os.walk(STDLIB):
        for name in [d for d in dirs if d in ("tests", "idle_test")]:
            shutil.rmtree(os.path.join(root, name))
            dirs.remove(name)
    # No bytecode in either tree: the smoke run's own .pyc files will mark what it imports.
    for tree in (STDLIB, VENV):
        for cache in bytecode_directories(tree):
            shutil.rmtree(cache)


def bytecode_directories(tree: str) -> list[str]:
    """The __pycache__ directories under tree, each once (os.walk does not follow the venv's lib64 link)."""
    return [os.path.join(root, "__pycache__") for root, dirs, _files in os.walk(tree) if "__pycache__" in dirs]


def compile_what_was_imported() -> None:
    """Keep bytecode only for the modules (standard library and environment) the service imported.

    The smoke run wrote a .pyc for each module it imported and nothing else;
    those are rewritten as unchecked-hash .pyc files, which never stat their
    source and so stay valid whatever timestamps the image layers end up with.
    A module outside that set still imports, compiled from source on demand.
    """
    mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
    for tree in (STDLIB, VENV):
        imported = 0
        for cache in bytecode_directories(tree):
            for pyc in os.listdir(cache):
                source = os.path.join(os.path.dirname(cache), pyc.split(".", 1)[0] + ".py")
                os.unlink(os.path.join(cache, pyc))
                if pyc.endswith(f".{sys.implementation.cache_tag}.pyc") and os.path.exists(source):
                    py_compile.compile(source, doraise=True, invalidation_mode=mode)
                    imported += 1
        log(f"bytecode for {imported} imported modules under {tree}")


def request(method: str, path: str, body: bytes | None = None) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=body, method=method)
    req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, timeout=5) as response:
        status: int = response.status
        return status


def smoke_run() -> set[str]:
    """Serve the API from the pruned tree and return what the server and the probe mapped."""
    workdir = tempfile.mkdtemp()
    os.mkdir(os.path.join(workdir, "models"))
    with open(os.path.join(workdir, "models", "model.bin"), "wb") as model:
        model.write(b"weights")
    env = dict(
        os.environ,
        HOST="127.0.0.1",
        PORT=str(PORT),
        DATABASE_URL=f"sqlite:///{workdir}/data/tasks.db",
        MODELS_DIR=os.path.join(workdir, "models"),
        LOG_FORMAT="json",
        PYTHONPATH=APP_DIR,  # as in the image
    )
    # Bytecode is written on purpose here: it marks what the service imports.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    server = subprocess.Popen([PYTHON, "-m", "service"], env=env, cwd=APP_DIR)
    maps: set[str] = set()
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                sys.exit(f"collect: server exited early with {server.returncode}")
            try:
                if request("GET", "/health") == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("collect: server did not answer /health within 30 s")
                time.sleep(0.2)
        checks = [
            ("POST", "/tasks", b'{"title": "collect"}', 201),
            ("GET", "/tasks/1", None, 200),
            ("PATCH", "/tasks/1", b'{"status": "done"}', 200),
            ("GET", "/tasks?status=done", None, 200),
            ("GET", "/ready", None, 200),
            ("GET", "/models", None, 200),
            ("GET", "/models/model.bin", None, 200),
            ("GET", "/openapi.json", None, 200),
        ]
        for method, path, body, expected in checks:
            status = request(method, path, body)
            if status != expected:
                sys.exit(f"collect: {method} {path} answered {status}, expected {expected}")
        # The PostgreSQL path cannot be served here (no server in a build): import
        # what it loads, with bytecode written, so those modules are kept compiled
        # too; and fail the build unless psycopg runs on its bundled libpq.
        postgres_path = subprocess.run(
            [PYTHON, "-c", IMPORT_POSTGRES_PATH], env=env, capture_output=True, text=True, check=False
        )
        if postgres_path.returncode != 0 or postgres_path.stdout.strip() != "binary":
            sys.exit(f"collect: the PostgreSQL driver does not load: {postgres_path.stdout}{postgres_path.stderr}")
        probe = subprocess.Popen(HEALTHCHECK, env=env)
        time.sleep(0.3)  # let the probe import what it needs before looking
        with contextlib.suppress(OSError):
            maps |= mapped_files(probe.pid)
        if probe.wait(10) != 0:
            sys.exit("collect: the HEALTHCHECK command failed")
        maps |= mapped_files(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        returncode = server.wait(20)
    if returncode != 0:
        sys.exit(f"collect: server exited {returncode} on SIGTERM")
    return maps


def load_in_process() -> None:
    """Map what the service's libraries may load outside the smoke run's paths."""
    import grp
    import pwd
    import ssl  # noqa: F401  (uvicorn imports it: libssl, libcrypto)

    import httptools  # noqa: F401
    import uvloop  # noqa: F401

    # glibc < 2.34 dlopen()s its NSS modules on the first lookup (newer glibc
    # has them built in; musl has none). The DNS lookup runs in a thread so a
    # build without DNS is not held up.
    socket.getaddrinfo("localhost", PORT)
    threading.Thread(target=lambda: socket.getaddrinfo("collect-probe.invalid", 80), daemon=True).start()
    for lookup in (lambda: pwd.getpwuid(0), lambda: grp.getgrgid(0)):
        with contextlib.suppress(KeyError):
            lookup()
    time.sleep(0.5)
    connection = sqlite3.connect(":memory:")
    connection.execute("select sqlite_version()").fetchone()
    connection.close()


def dlopen_every_extension() -> None:
    failed = []
    for root in (DYNLOAD, VENV):
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                path = os.path.join(dirpath, name)
                if ".so" in name and os.path.isfile(path) and not os.path.islink(path):
                    try:
                        ctypes.CDLL(path)
                    except OSError as exc:
                        failed.append(f"{path}: {exc}")
    if failed:
        sys.exit("collect: cannot load:\n  " + "\n  ".join(failed))


def copy_path(source: str, rootfs: str) -> None:
    """Copy source into rootfs, recreating every symlink met on the way so the same names resolve."""
    parts = os.path.abspath(source).strip("/").split("/")
    current = ""
    for index, part in enumerate(parts):
        current = f"{current}/{part}"
        destination = rootfs + current
        if os.path.islink(current):
            target = os.readlink(current)
            if not os.path.lexists(destination):
                os.makedirs(os.path.dirname(destination), exist_ok=True)
                os.symlink(target, destination)
            resolved = os.path.normpath(os.path.join(os.path.dirname(current), target))
            rest = "/".join(parts[index + 1 :])
            copy_path(resolved + (f"/{rest}" if rest else ""), rootfs)
            return
        if index == len(parts) - 1:
            if os.path.isdir(current):
                shutil.copytree(current, destination, symlinks=True, dirs_exist_ok=True)
            elif not os.path.lexists(destination):
                os.makedirs(os.path.dirname(destination), exist_ok=True)
                shutil.copy2(current, destination)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rootfs = os.path.abspath(sys.argv[1])

    prune_stdlib()
    load_in_process()
    files = mapped_files() | smoke_run()
    compile_what_was_imported()
    dlopen_every_extension()
    files |= mapped_files()

    trees = (STDLIB, VENV, APP_DIR)
    libraries = sorted(path for path in files if not path.startswith(tuple(tree + "/" for tree in trees)))
    log("libraries:", *libraries)

    os.makedirs(rootfs, exist_ok=True)
    for tree in trees:
        if not any(tree != other and tree.startswith(other + "/") for other in trees):
            copy_path(tree, rootfs)
    for library in libraries:
        copy_path(library, rootfs)
    # Aliases the loader asks for by name (libz.so.1 -> libz.so.1.3.1, libc.musl-x86_64.so.1).
    real_libraries = {os.path.realpath(library) for library in libraries}
    directories = {os.path.dirname(library) for library in libraries} | {
        "/lib",
        "/lib64",
        "/usr/lib",
        "/usr/lib64",
        "/usr/local/lib",
        f"/lib/{MULTIARCH}",
        f"/usr/lib/{MULTIARCH}",
    }
    for directory in sorted(d for d in directories if os.path.isdir(d)):
        for name in os.listdir(directory):
            path = os.path.join(directory, name)
            if os.path.islink(path) and os.path.realpath(path) in real_libraries:
                copy_path(path, rootfs)
    interpreter = elf_interpreter(os.path.realpath(PYTHON))
    if interpreter:
        copy_path(interpreter, rootfs)
    copy_path(PYTHON, rootfs)  # venv bin/python -> /usr/local/bin/python3.x
    for path in READ_NOT_MAPPED:
        if os.path.exists(path):
            copy_path(path, rootfs)

    etc = os.path.join(rootfs, "etc")
    os.makedirs(etc, exist_ok=True)
    with open(os.path.join(etc, "passwd"), "w") as passwd:
        passwd.write(f"root:x:0:0:root:/root:/sbin/nologin\napp:x:{UID}:{GID}:app:/nonexistent:/sbin/nologin\n")
    with open(os.path.join(etc, "group"), "w") as group:
        group.write(f"root:x:0:\napp:x:{GID}:\n")
    for directory, mode in (("tmp", 0o1777), ("data", 0o755), ("models", 0o755)):
        os.makedirs(os.path.join(rootfs, directory), exist_ok=True)
        os.chmod(os.path.join(rootfs, directory), mode)
    # The user owns /data, so a new named volume mounted there is writable.
    os.chown(os.path.join(rootfs, "data"), UID, GID)
    log("done:", rootfs)


if __name__ == "__main__":
    main()
