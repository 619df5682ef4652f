"""Many SSE clients in one process (asyncio + httpx): ``python stream_clients.py SPEC``.

SPEC is a JSON file: ``{"url": …, "clients": [{"user_id", "session_key"}, …],
"ramp": connections per second, "out": path}``. Each client is one logged-in user (their
session cookie) holding one ``GET notifications/stream/``. The process prints
``READY <n>`` on stdout once every stream has sent its first ``count`` event (or
``READY <n>`` with fewer after the connect timeout), then records the arrival time
(``time.time()``, the clock the sender stamps commits with) of every ``notification``
event, until a line arrives on stdin (or stdin closes). It then writes ``out``: the
arrivals, the connect times, the errors and its own CPU time.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

import httpx

CONNECT_TIMEOUT = 120


def parse_block(block: str) -> tuple[str, str | None] | None:
    event, data = "message", None
    for line in block.split("\n"):
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data = value
    return (event, data) if data is not None else None


class Clients:
    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.url = spec["url"].rstrip("/") + "/notifications/stream/"
        self.arrivals: list[tuple[int, int, float]] = []  # (user_id, notification id, at)
        self.connect_ms: list[float] = []
        self.errors: list[str] = []
        self.ended: list[int] = []  # user ids whose stream ended before the stop
        self.ready = 0
        self.all_ready = asyncio.Event()
        self.stopping = False

    async def one(self, client: httpx.AsyncClient, entry: dict) -> None:
        user_id = entry["user_id"]
        headers = {"Cookie": f"sessionid={entry['session_key']}", "Accept": "text/event-stream"}
        started = time.perf_counter()
        counted = False
        try:
            async with client.stream("GET", self.url, headers=headers) as response:
                if response.status_code != 200:
                    self.errors.append(f"user {user_id}: HTTP {response.status_code}")
                    return
                buffer = ""
                async for text in response.aiter_text():
                    now = time.time()
                    buffer += text.replace("\r\n", "\n")
                    *blocks, buffer = buffer.split("\n\n")
                    for block in blocks:
                        parsed = parse_block(block)
                        if parsed is None:
                            continue
                        event, data = parsed
                        if event == "notification":
                            self.arrivals.append((user_id, json.loads(data)["id"], now))
                        elif event == "count" and not counted:
                            counted = True
                            self.connect_ms.append((time.perf_counter() - started) * 1000)
                            self.ready += 1
                            if self.ready == len(self.spec["clients"]):
                                self.all_ready.set()
            if not self.stopping:
                self.ended.append(user_id)
                self.errors.append(f"user {user_id}: the stream ended")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is a recorded error
            if not self.stopping:
                self.errors.append(f"user {user_id}: {type(exc).__name__}: {exc}"[:300])

    async def run(self) -> None:
        n = len(self.spec["clients"])
        limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=0)
        timeout = httpx.Timeout(30, read=None)
        async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
            tasks = []
            gap = 1 / self.spec.get("ramp", 100)
            for entry in self.spec["clients"]:
                tasks.append(asyncio.create_task(self.one(client, entry)))
                await asyncio.sleep(gap)
            try:
                await asyncio.wait_for(self.all_ready.wait(), CONNECT_TIMEOUT)
            except TimeoutError:
                pass
            print(f"READY {self.ready}", flush=True)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, sys.stdin.readline)
            self.stopping = True
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def main() -> None:
    spec = json.loads(open(sys.argv[1]).read())
    clients = Clients(spec)
    asyncio.run(clients.run())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "clients": len(spec["clients"]),
        "ready": clients.ready,
        "connect_ms": clients.connect_ms,
        "arrivals": clients.arrivals,
        "errors": clients.errors,
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
        "max_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }
    with open(spec["out"], "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
