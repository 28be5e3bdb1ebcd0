"""The workers of the stack run as the unprivileged service user (deploy/lib.sh,
MUSIC_SERVICE_USER), which owns the SQLite database, its -wal and -shm and their
folder, none readable by other users, and cannot read the TLS key."""
import os
import pathlib
import pwd
import stat
import subprocess


def worker_pids(stack):
    pids = [int(path.read_text()) for path in sorted((stack.var / "run").glob("worker-*.pid"))]
    assert pids, "no worker pid files in var/run"
    return pids


def effective_ids(pid):
    fields = {}
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.split()
    # Real, effective, saved, filesystem.
    return int(fields["Uid"][1]), int(fields["Gid"][1])


def test_every_worker_runs_unprivileged(stack):
    for pid in worker_pids(stack):
        assert pathlib.Path(f"/proc/{pid}/comm").read_text().strip() == "music-fcgi"
        uid, gid = effective_ids(pid)
        assert uid != 0, f"worker {pid} runs as root"
        assert gid != 0, f"worker {pid} runs with group root"


def test_the_service_user_owns_the_database_and_no_one_else_reads_it(stack):
    uid, _ = effective_ids(worker_pids(stack)[0])
    database = pathlib.Path(os.path.realpath(stack.var / "music.sqlite"))
    files = [database] + [path for path in (database.with_name(database.name + "-wal"),
                                            database.with_name(database.name + "-shm")) if path.exists()]
    for path in files + [database.parent]:
        status = path.stat()
        assert status.st_uid == uid, f"{path} is owned by uid {status.st_uid}, the workers run as {uid}"
        assert status.st_mode & stat.S_IRWXO == 0, f"{path} is open to other users: {oct(status.st_mode)}"
    assert database.parent.stat().st_mode & stat.S_IWUSR, "the database folder must be writable by its owner"


def test_the_service_user_cannot_read_the_tls_key(stack):
    uid, _ = effective_ids(worker_pids(stack)[0])
    user = pwd.getpwuid(uid).pw_name
    key = stack.var / "tls" / "key.pem"
    if not key.exists():
        return
    result = subprocess.run(["runuser", "-u", user, "--", "test", "-r", str(key)], timeout=10)
    assert result.returncode != 0, f"{user} can read the TLS key"
