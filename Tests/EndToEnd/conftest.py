"""The stack under test: started by deploy/test with deploy/up --detach; these
fixtures read where it runs from the environment deploy/test exports."""
import json
import os
import pathlib
import subprocess

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "stops_workers: leaves the stack changed for the tests after it (its workers stopped, or "
                            "nginx holding the health sockets failed for a while); run after every other test")


def pytest_collection_modifyitems(config, items):
    """The tests that stop the workers run last, in their own order, whatever
    their file's name: a file sorted after theirs would find no worker."""
    items.sort(key=lambda item: item.get_closest_marker("stops_workers") is not None)


class Stack:
    def __init__(self):
        self.var = pathlib.Path(os.environ["MUSIC_VAR_DIR"])
        self.https = f"https://localhost:{os.environ['MUSIC_HTTPS_PORT']}"
        self.http = f"http://127.0.0.1:{os.environ['MUSIC_HTTP_PORT']}"
        self.cert = str(self.var / "tls" / "cert.pem")
        demo = json.loads((self.var / "demo.json").read_text())
        self.org = demo["organization_id"]
        self.key = demo["api_key"]
        self.tracks = demo["track_ids"]
        self.api = f"{self.https}/v1/music/{self.org}"

    def curl(self, *args):
        """curl with the stack's certificate: (status, parsed JSON body)."""
        result = subprocess.run(["curl", "-s", "--cacert", self.cert, "-w", "\n%{http_code}", *args],
                                capture_output=True, text=True, check=True)
        body, _, status = result.stdout.rpartition("\n")
        return int(status), json.loads(body)

    def admin(self, *arguments, db=None):
        """music-admin on the stack's database (or `db`), with --json."""
        result = subprocess.run([os.path.join(os.environ["MUSIC_BIN_DIR"], "music-admin"), *arguments,
                                 "--db", db or str(self.var / "music.sqlite"), "--json"],
                                capture_output=True, text=True, check=True)
        return json.loads(result.stdout)

    def pid(self, name):
        path = self.var / "run" / f"{name}.pid"
        return int(path.read_text()) if path.exists() else None


@pytest.fixture(scope="session")
def stack():
    return Stack()
