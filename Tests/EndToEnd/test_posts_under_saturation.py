"""POSTs through nginx while a worker has few free threads and connections wait
in its backlog: every one is answered 2xx. nginx does not retry a POST it sent
(create has no non_idempotent retry), so a worker that closed a kept-alive
connection nginx was about to reuse would show here as a 502 (the reverted attempt
at the overload tail, docs/performance.md "Overload")."""
import json
import os
import pathlib
import threading
import time

from edge_client import call, own_key, tls_connection
from metrics_support import lib_settings
from test_health_lane import begin_request_only

RUN_DIR = pathlib.Path(os.environ["MUSIC_RUN_DIR"])
FREE_THREADS = 4
LANES, PER_LANE = 16, 5
SOURCES = ["127.0.0.41", "127.0.0.42", "127.0.0.43", "127.0.0.44"]


def test_concurrent_posts_with_few_free_threads_are_all_answered(stack):
    key = own_key(stack)
    threads = lib_settings()["threads"]
    path = f"/v1/music/{stack.org}/collections"
    # Writes go to worker 1: all its threads but FREE_THREADS held by connections
    # that sent only a begin record.
    held = [begin_request_only(RUN_DIR / "worker-1.sock") for _ in range(threads - FREE_THREADS)]
    answers, failures = [], []
    lock = threading.Lock()

    def lane(index):
        client = tls_connection(stack, SOURCES[index % len(SOURCES)], timeout=30)
        try:
            for number in range(PER_LANE):
                body = json.dumps({"name": f"saturated {index}-{number}"})
                status, _, raw = call(client, "POST", path, {"X-API-Key": key, "Content-Type": "application/json"}, body)
                with lock:
                    answers.append((status, json.loads(raw)))
        except Exception as error:  # noqa: BLE001 - reported below
            with lock:
                failures.append(repr(error))
        finally:
            client.close()

    try:
        workers = [threading.Thread(target=lane, args=(index,)) for index in range(LANES)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert not any(worker.is_alive() for worker in workers), "POSTs still unanswered after 60 s"
    finally:
        for connection in held:
            connection.close()
    assert failures == []
    statuses = [status for status, _ in answers]
    assert statuses == [201] * (LANES * PER_LANE), {status: statuses.count(status) for status in set(statuses)}
    # Clean up, paced below the key's rate limit.
    client = tls_connection(stack, SOURCES[0], timeout=10)
    try:
        for _, created in answers:
            identifier = created["id"]
            status, _, _ = call(client, "DELETE", f"{path}/{identifier}", {"X-API-Key": key})
            assert status in (200, 204), status
            time.sleep(0.03)
    finally:
        client.close()
