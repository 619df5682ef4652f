"""The polling bell under locust: ``locust -f locustfile.py --headless -u 200 -r 50 -t 60s``.

Each locust user is one distinct logged-in user (the next session key of
``LOAD_SESSIONS``, a JSON list) and polls as the widget does without a stream: the
unread count, then the first page of the feed, every ``LOAD_INTERVAL`` seconds with
±20 % jitter. The first poll of each user waits a random part of the interval, so the
200 bells are not synchronised (in life they start when pages open).
"""

from __future__ import annotations

import itertools
import json
import os
import random

from locust import FastHttpUser, task

SESSIONS = json.loads(open(os.environ["LOAD_SESSIONS"]).read())
INTERVAL = float(os.environ.get("LOAD_INTERVAL", "5"))
_next = itertools.count()


class Bell(FastHttpUser):
    def wait_time(self) -> float:
        return random.uniform(0.8 * INTERVAL, 1.2 * INTERVAL)

    def on_start(self) -> None:
        key = SESSIONS[next(_next) % len(SESSIONS)]
        self.headers = {"Cookie": f"sessionid={key}", "Accept": "application/json"}
        self.wait_first = random.uniform(0, INTERVAL)

    @task
    def poll(self) -> None:
        if self.wait_first:
            self._sleep(self.wait_first)
            self.wait_first = 0
        for name, path in (
            ("unread-count", "/notifications/api/notifications/unread-count/"),
            ("first page", "/notifications/api/notifications/"),
        ):
            with self.client.get(path, headers=self.headers, name=name,
                                 catch_response=True) as response:  # fmt: skip
                if response.status_code != 200:
                    response.failure(f"HTTP {response.status_code}")
                elif name == "first page" and "results" not in response.json():
                    response.failure("no results")
                else:
                    response.success()

    def _sleep(self, seconds: float) -> None:
        import gevent

        gevent.sleep(seconds)
