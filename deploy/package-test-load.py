"""A steady load on the installed site while the package upgrades: threads that
create collections, paced under the site's per-key rate limit.
Runs until STOP_FILE exists (or --max-seconds), then reads every collection it
created once more and prints a JSON summary: every answer must have been the
expected one (no refused connection, no 502/503), and nothing created lost.

    package-test-load.py --port P --org ORG --key KEY --stop-file F --progress-file G
"""
import argparse
import http.client
import json
import os
import random
import threading
import time


def request(port, method, path, key, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"X-API-Key": key}
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    except OSError as error:
        return f"{type(error).__name__}", b""
    finally:
        connection.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--org", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--progress-file", required=True)
    # 8 threads, 0.1 s apart: at most 80 requests a second, under the site's
    # per-key limit (100/s, deploy/lib.sh), so every answer must be a 201.
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--pace", type=float, default=0.1, help="seconds between one thread's requests")
    parser.add_argument("--max-seconds", type=float, default=600)
    arguments = parser.parse_args()
    base = f"/v1/music/{arguments.org}/collections"
    lock = threading.Lock()
    created, failures, counts = [], [], {"requests": 0}
    deadline = time.monotonic() + arguments.max_seconds

    def run(index):
        rng = random.Random(index)
        serial = 0
        while not os.path.exists(arguments.stop_file) and time.monotonic() < deadline:
            serial += 1
            name = f"upgrade load {index}-{serial}-{rng.randrange(10**6)}"
            status, body = request(arguments.port, "POST", base, arguments.key, {"name": name})
            with lock:
                counts["requests"] += 1
                if status == 201:
                    created.append((json.loads(body)["id"], name))
                else:
                    failures.append(f"POST {status}")
                # Whole or not at all: the test reads it meanwhile.
                with open(arguments.progress_file + ".new", "w") as f:
                    f.write(f"{counts['requests']}\n")
                os.replace(arguments.progress_file + ".new", arguments.progress_file)
            time.sleep(arguments.pace)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(arguments.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lost = []
    for identifier, name in created:
        status, body = request(arguments.port, "GET", f"{base}/{identifier}", arguments.key)
        if status != 200 or json.loads(body)["name"] != name:
            lost.append(f"{identifier}: {status}")
        time.sleep(0.012)  # under the per-key rate limit
    print(json.dumps({"requests": counts["requests"], "created": len(created), "failures": failures[:20],
                      "failure_count": len(failures), "lost": lost[:20], "lost_count": len(lost)}))


if __name__ == "__main__":
    main()
