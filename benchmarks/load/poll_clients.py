"""The polling bell without locust (asyncio + httpx): ``python poll_clients.py SPEC``.

The same behaviour as ``locustfile.py``: SPEC is ``{"url", "sessions": [...],
"clients": n, "duration": s, "interval": s, "ramp": users per second, "out": path}``;
every client is one session and polls the unread count then the first page every
``interval`` seconds (±20 %), its first poll after a random part of the interval. Writes
every request's latency (ms, ``time.perf_counter()``), the errors and its own CPU time.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import sys
import time

import httpx

PATHS = (
    ("unread-count", "/notifications/api/notifications/unread-count/"),
    ("first page", "/notifications/api/notifications/"),
)


async def bell(client, base, key, spec, until, samples, errors, rng) -> None:
    headers = {"Cookie": f"sessionid={key}", "Accept": "application/json"}
    interval = spec["interval"]
    await asyncio.sleep(rng.uniform(0, interval))
    while time.monotonic() < until:
        for name, path in PATHS:
            started = time.perf_counter()
            try:
                response = await client.get(base + path, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    errors.append(f"{name}: HTTP {response.status_code}")
                else:
                    samples[name].append(elapsed)
            except httpx.HTTPError as exc:
                errors.append(f"{name}: {type(exc).__name__}: {exc}"[:300])
        await asyncio.sleep(rng.uniform(0.8 * interval, 1.2 * interval))


async def run(spec: dict) -> dict:
    rng = random.Random(7)
    base = spec["url"].rstrip("/")
    samples: dict[str, list[float]] = {name: [] for name, _ in PATHS}
    errors: list[str] = []
    limits = httpx.Limits(max_connections=spec["clients"] + 10)
    started = time.monotonic()
    until = started + spec["duration"]
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(30)) as client:
        tasks = []
        for i in range(spec["clients"]):
            key = spec["sessions"][i % len(spec["sessions"])]
            tasks.append(asyncio.create_task(
                bell(client, base, key, spec, until, samples, errors, rng)))  # fmt: skip
            await asyncio.sleep(1 / spec.get("ramp", 50))
        await asyncio.gather(*tasks)
    return {"samples_ms": samples, "errors": errors,
            "seconds": round(time.monotonic() - started, 2)}  # fmt: skip


def main() -> None:
    spec = json.loads(open(sys.argv[1]).read())
    result = asyncio.run(run(spec))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 3)
    with open(spec["out"], "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
