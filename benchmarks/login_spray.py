"""A login spray must not slow decisions: ``POST /v1/decisions`` p50, quiet and during a spray.

Starts the HTTP endpoint in a process of its own on loopback (this script with ``--serve``: the
app of ``flywheel serve`` with API tokens and the real enforcer, the default oracle and risk
policy, without Kafka: ``publish=False``), then from this process:

1. ``quiet``: ``DECISIONS`` decisions one after the other (one keep-alive connection, a proposer
   token), after ``WARMUP`` unmeasured ones; their p50 and p90.
2. ``spray``: ``SPRAY_THREADS`` threads post console logins with unknown names (a new name each
   time, a wrong password) as fast as the server answers them, each from ``ADDRESSES`` loopback
   source addresses in turn (127.0.T.N: a spray from many hosts, so the per-address limit alone
   cannot stop it and the limit across names and the hashing executor are what is measured),
   while decisions are measured the same way for ``SPRAY_MEASURE_S`` seconds (the first
   seconds, while the failures budget still lets logins be hashed, are also reported alone).
   The spray is bounded: at most ``SPRAY_MAX`` logins and ``SPRAY_MAX_S`` seconds, and it stops
   when the measurement ends.

Before the login limits and the hashing executor (:mod:`alignment_flywheel.console.login`), the
logins ran their scrypt on the thread pool that decides and nothing limited a spray across names:
the decision p50 went from about 2 ms to about 150 ms. Target: ``spray_over_quiet_p50`` at most
1.5. Prints one JSON object to stdout.

Last figures (2 shared cores): 2.70 ms quiet, 2.74 ms during the spray (1.02x; 1.01x in its
first two seconds, while the failures budget still lets logins be hashed). The same measurement
against the code before the change: 2.20 -> 8.46 ms (3.8x); with 16 spraying threads 4.5x
before, 0.86x after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

WARMUP = 50
DECISIONS = 400
SPRAY_THREADS = 4
ADDRESSES = 50
SPRAY_MAX = 5_000
SPRAY_MAX_S = 60.0
SPRAY_MEASURE_S = 8.0
HASHING_PHASE_S = 2.0
START_LIMIT_S = 60.0
TARGET_RATIO = 1.5
CALL = {"tool": "fs.read", "arguments": {"path": "/srv/report.csv"}, "session_id": "bench"}


def serve(port: int, state: Path) -> None:
    """The server process: the endpoint with tokens from ``state``, until killed."""
    import uvicorn  # noqa: PLC0415

    from alignment_flywheel.config import load_settings  # noqa: PLC0415
    from alignment_flywheel.connectors.http import create_http_app  # noqa: PLC0415
    from alignment_flywheel.connectors.http.auth import ApiAuth  # noqa: PLC0415

    settings = load_settings(state_dir=state, http_rate_per_s=1e6, http_rate_burst=1_000_000)
    app = create_http_app(settings, publish=False, auth=ApiAuth.from_settings(settings))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def free_port() -> int:
    from alignment_flywheel.stack.processes import free_ports  # noqa: PLC0415

    (port,) = free_ports(1)
    return port


def start_server(state: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, __file__, "--serve", str(port), "--state", str(state)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_LIMIT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited: {server.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return server, url
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"the server did not answer within {START_LIMIT_S} s")


def decisions_ms(
    url: str, token: str, count: int, for_s: float | None = None
) -> list[tuple[float, float]]:
    """(seconds since the first, milliseconds) of ``count`` decisions, or of as many as fit in
    ``for_s`` seconds."""
    samples = []
    headers = {"Authorization": f"Bearer {token}"}
    first = time.perf_counter()
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        while len(samples) < count if for_s is None else time.perf_counter() - first < for_s:
            started = time.perf_counter()
            answer = client.post("/v1/decisions", json=CALL)
            samples.append((started - first, (time.perf_counter() - started) * 1000))
            if answer.status_code != 200:
                raise RuntimeError(f"decision refused: {answer.status_code} {answer.text}")
    return samples


class Spray:
    """Threads posting logins of unknown names until stopped or over their bounds."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stop = threading.Event()
        self.statuses: Counter[int] = Counter()
        self._count = 0
        self._lock = threading.Lock()
        self._deadline = time.monotonic() + SPRAY_MAX_S
        tls = ssl.create_default_context()  # one context: httpx would load the CAs per client
        self.clients = [
            [
                httpx.Client(
                    base_url=url,
                    timeout=30,
                    transport=httpx.HTTPTransport(
                        local_address=f"127.0.{thread + 1}.{n + 1}", verify=tls
                    ),
                )
                for n in range(ADDRESSES)
            ]
            for thread in range(SPRAY_THREADS)
        ]
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(SPRAY_THREADS)]

    def _next(self) -> int | None:
        with self._lock:
            if self.stop.is_set() or self._count >= SPRAY_MAX:
                return None
            if time.monotonic() > self._deadline:
                return None
            self._count += 1
            return self._count

    def _run(self, thread: int) -> None:
        clients = self.clients[thread]
        while (number := self._next()) is not None:
            form = {"name": f"spray-{thread}-{number}", "password": "guess-123456"}
            client = clients[number % ADDRESSES]
            answer = client.post("/console/login", data=form, follow_redirects=False)
            with self._lock:
                self.statuses[answer.status_code] += 1

    def __enter__(self) -> Spray:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(SPRAY_MAX_S)
        for clients in self.clients:
            for client in clients:
                client.close()


def summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    latencies = [ms for _, ms in samples]
    return {
        "decisions": len(latencies),
        "p50_ms": round(statistics.median(latencies), 3),
        "p90_ms": round(statistics.quantiles(latencies, n=10)[-1], 3),
    }


def measure(url: str, token: str) -> dict[str, object]:
    decisions_ms(url, token, WARMUP)
    quiet = summary(decisions_ms(url, token, DECISIONS))
    with Spray(url) as spray:
        time.sleep(0.2)  # the spray is under way before the measurement starts
        sprayed = decisions_ms(url, token, DECISIONS, for_s=SPRAY_MEASURE_S)
    hashing = summary([s for s in sprayed if s[0] < HASHING_PHASE_S])
    during = summary(sprayed)
    ratio = round(during["p50_ms"] / quiet["p50_ms"], 3)
    return {
        "quiet": quiet,
        "spray": {
            **during,
            "first_seconds": {"seconds": HASHING_PHASE_S, **hashing},
            "threads": SPRAY_THREADS,
            "source_addresses": SPRAY_THREADS * ADDRESSES,
            "logins": sum(spray.statuses.values()),
            "login_statuses": {str(k): v for k, v in sorted(spray.statuses.items())},
            "measured_s": SPRAY_MEASURE_S,
        },
        "spray_over_quiet_p50": ratio,
        "first_seconds_over_quiet_p50": round(hashing["p50_ms"] / quiet["p50_ms"], 3),
        "target": {"spray_over_quiet_p50_at_most": TARGET_RATIO, "met": ratio <= TARGET_RATIO},
    }


def main() -> None:
    from alignment_flywheel.connectors.http.tokens import TokenStore  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="login-spray-") as scratch:
        state = Path(scratch)
        store = TokenStore(state / "http" / "tokens.json")
        token = store.issue("bench", proposer="bench-agent")
        server, url = start_server(state)
        try:
            figures = measure(url, token)
        finally:
            server.terminate()
            server.wait(30)
    output = {
        "benchmark": "login_spray",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        **figures,
    }
    json.dump(output, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve is not None:
        serve(arguments.serve, arguments.state)
    else:
        main()
