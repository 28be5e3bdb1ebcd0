"""music-admin backup takes a consistent copy while workers write; restore brings it back."""
import subprocess
import threading
import time

import requests


def sql(db, query):
    return subprocess.run(["sqlite3", str(db), query], capture_output=True, text=True, check=True).stdout.split()


def test_backup_taken_under_load_restores_consistently(stack, tmp_path):
    acknowledged = []
    stop = threading.Event()

    def load():
        with requests.Session() as session:
            while not stop.is_set():
                response = session.post(f"{stack.api}/collections", headers={"X-API-Key": stack.key},
                                        json={"name": f"backup-load-{len(acknowledged)}"}, verify=stack.cert)
                if response.status_code == 201:
                    created = response.json()["id"]
                    session.post(f"{stack.api}/collections/{created}/tracks", headers={"X-API-Key": stack.key},
                                 json={"track_id": stack.tracks[len(acknowledged) % len(stack.tracks)]}, verify=stack.cert)
                    acknowledged.append(created)

    def wait_for_writes(count, timeout=30):
        """Until the load has `count` acknowledged collections (it writes while the backup runs)."""
        deadline = time.monotonic() + timeout
        while len(acknowledged) < count and writer.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)

    writer = threading.Thread(target=load)
    writer.start()
    wait_for_writes(10)
    before = list(acknowledged)
    backup = tmp_path / "backup.sqlite"
    result = stack.admin("backup", str(backup))
    wait_for_writes(len(acknowledged) + 10)
    stop.set()
    writer.join()
    assert result["integrity"] == "ok"
    assert len(before) > 0 and len(acknowledged) > len(before)

    restored = tmp_path / "restored.sqlite"
    result = stack.admin("restore", str(backup), db=str(restored))
    assert result["integrity"] == "ok"
    ids = set(sql(restored, "SELECT id FROM collections"))
    assert set(before) <= ids, "a collection acknowledged before the backup began is missing"
    # Consistent: every collection's count matches its members, positions dense.
    broken = sql(restored, """
        SELECT c.id FROM collections c LEFT JOIN collection_tracks m ON m.collection_id = c.id
        GROUP BY c.id HAVING count(m.track_id) != c.track_count
            OR (count(m.track_id) > 0 AND max(m.position) != count(m.track_id) - 1)""")
    assert broken == []
    assert sql(restored, "PRAGMA integrity_check") == ["ok"]


def test_backup_is_private_and_restore_refused_while_workers_run(stack, tmp_path):
    """A backup is mode 0600; restoring onto the live database while the workers
    have it open is refused, and the stack keeps serving its data."""
    import os
    import stat

    backup = tmp_path / "private.sqlite"
    assert stack.admin("backup", str(backup))["integrity"] == "ok"
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["private.sqlite"]
    before = backup.read_bytes()

    live = stack.var / "music.sqlite"
    result = subprocess.run([os.path.join(os.environ["MUSIC_BIN_DIR"], "music-admin"), "restore", str(backup),
                             "--db", str(live), "--json"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "open in another process" in result.stderr
    assert backup.read_bytes() == before
    response = requests.get(f"{stack.api}/collections", headers={"X-API-Key": stack.key}, verify=stack.cert, timeout=10)
    assert response.status_code == 200
