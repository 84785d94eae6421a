"""Start and stop a real odradek release binary for one test."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("ODRADEK_BIN", REPO / "target" / "release" / "odradek"))
READY = "odradek ready:"


def free_port() -> int:
    """A port nobody listens on right now (the broker binds it explicitly,
    so the same port can be reused after a restart)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """One `odradek serve` process on `host`:`port` (127.0.0.1 unless told)
    with data in `data_dir`."""

    kind = "odradek"

    def __init__(self, data_dir: Path, port: int | None = None, settings=(), log_path: Path | None = None,
                 serves_clients: bool = True, wrapper=(), host: str = "127.0.0.1"):
        self.data_dir = Path(data_dir)
        self.host = host  # the address it listens on (a namespace's, in netns tests)
        self.serves_clients = serves_clients  # False: a controller only, no --listen
        self.port = free_port() if port is None else port  # 0: let the broker pick
        self.settings = list(settings)
        self.wrapper = list(wrapper)  # a command the broker's argv is handed to (e.g. unshare)
        self.log_path = log_path or self.data_dir.with_name(self.data_dir.name + ".log")
        self.proc: subprocess.Popen | None = None
        self.ready_line = ""

    @property
    def cluster_id(self) -> str:
        """As printed on the ready line ("..., cluster <id>, ...")."""
        return self.ready_line.split(" cluster ", 1)[1].split(",", 1)[0]

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> "Broker":
        return self.launch().wait_ready(timeout)

    def launch(self) -> "Broker":
        """Starts the process without waiting for it to be ready (a node of a
        cluster is ready only once a quorum of its peers is up)."""
        if not BINARY.exists():
            raise RuntimeError(f"{BINARY} is missing: run `cargo build --release` first")
        argv = [str(BINARY), "serve", "--data-dir", str(self.data_dir)]
        if self.serves_clients:
            argv[2:2] = ["--listen", self.bootstrap]
        for s in self.settings:
            argv += ["--set", s]
        argv = self.wrapper + argv
        log = open(self.log_path, "ab")
        log.write(f"\n=== {' '.join(argv)}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log,
                                     env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "info")})
        ready = threading.Event()

        def pump():  # copy stdout to the log, noticing the ready line
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                if not ready.is_set() and line.decode(errors="replace").startswith(READY):
                    self.ready_line = line.decode().strip()
                    if self.port == 0:  # "listening on 127.0.0.1:PORT,"
                        self.port = int(self.ready_line.split("listening on ", 1)[1].split(",")[0].rsplit(":", 1)[1])
                    ready.set()
            log.close()

        threading.Thread(target=pump, daemon=True).start()
        self._ready = ready
        return self

    def wait_ready(self, timeout: float = 20.0) -> "Broker":
        ready = self._ready
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError(f"broker did not get ready (exit {self.proc.returncode}):\n{self.log_tail()}")
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; returns the exit code (a hang is killed and reported as None)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.proc = None
                return None
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL: no chance to flush or clean up."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def pause(self) -> None:
        """SIGSTOP: the process freezes with its sockets open, as a long GC
        pause or a stalled VM would; requests sent meanwhile wait in them."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def rss_peak_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise RuntimeError("no VmHWM")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
