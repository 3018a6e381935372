"""Load test of the sentiment service: a weighted mix of single and batch requests, short and long.

Headless, with the defaults of loadtest/locust.conf (32 users for 1 minute against
http://127.0.0.1:8000, CSV and HTML report in reports/loadtest/):

    locust --config loadtest/locust.conf
    locust --config loadtest/locust.conf -H http://127.0.0.1:8000 -u 64 -t 5m --tags single

Scenarios are tagged: `single` / `batch` (one text per request or several), `short` / `long`
(tweet-length texts or IMDB-length reviews). `--tags` and `--exclude-tags` pick among them.
A response without the contract's shape counts as a failure, as does any status but 200.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from checks import check_batch, check_single
from locust import FastHttpUser, events, tag, task
from texts import TextPool, file_pool, generated_pool

POOL: TextPool = generated_pool()


@events.init_command_line_parser.add_listener
def _options(parser) -> None:  # noqa: ANN001 (locust's configargparse parser)
    group = parser.add_argument_group("sentiment service")
    group.add_argument(
        "--api-key",
        env_var="LOCUST_API_KEY",
        default="",
        help="sent as 'Authorization: Bearer KEY' when the service has SENTIMENT_API_KEYS",
    )
    group.add_argument(
        "--texts-file",
        env_var="LOCUST_TEXTS_FILE",
        default="",
        help="replay these texts (one a line) instead of generated ones",
    )
    group.add_argument(
        "--think-time",
        env_var="LOCUST_THINK_TIME",
        type=float,
        default=0.5,
        help="longest pause, in seconds, between a user's requests (uniform from 0)",
    )


@events.init.add_listener
def _load_texts(environment, **_kwargs) -> None:  # noqa: ANN001
    global POOL
    options = environment.parsed_options
    if options is not None and options.texts_file:
        POOL = file_pool(Path(options.texts_file))


class ReviewReader(FastHttpUser):
    """A client of the service: mostly single short texts, some reviews, some batches."""

    def on_start(self) -> None:
        self.rng = random.Random()
        key = self.environment.parsed_options.api_key if self.environment.parsed_options else ""
        self.headers = {"Content-Type": "application/json"}
        if key:
            self.headers["Authorization"] = f"Bearer {key}"

    def wait_time(self) -> float:
        options = self.environment.parsed_options
        return self.rng.uniform(0, options.think_time if options else 0.5)

    @tag("single", "short")
    @task(6)
    def single_short(self) -> None:
        self._single(POOL.pick(self.rng, long=False), "single short")

    @tag("single", "long")
    @task(2)
    def single_long(self) -> None:
        self._single(POOL.pick(self.rng, long=True), "single long")

    @tag("batch", "short")
    @task(1)
    def batch_short(self) -> None:
        texts = [POOL.pick(self.rng, long=False) for _ in range(self.rng.randint(8, 32))]
        self._batch(texts, "batch short")

    @tag("batch", "long")
    @task(1)
    def batch_mixed(self) -> None:
        texts = [POOL.pick(self.rng, long=self.rng.random() < 0.5) for _ in range(8)]
        self._batch(texts, "batch mixed")

    def _single(self, text: str, name: str) -> None:
        self._post({"text": text}, name, check_single)

    def _batch(self, texts: list[str], name: str) -> None:
        self._post({"texts": texts}, name, lambda body: check_batch(body, len(texts)))

    def _post(self, payload: dict, name: str, check) -> None:  # noqa: ANN001
        with self.client.post(
            "/predict",
            data=json.dumps(payload),
            headers=self.headers,
            name=f"/predict {name}",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}: {response.text[:200]}")
                return
            try:
                body = response.json()
            except ValueError:
                response.failure("the body is not JSON")
                return
            if problem := check(body):
                response.failure(problem)
