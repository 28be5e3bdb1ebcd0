"""Each worker's metrics socket ($RUN_DIR/metrics/worker-N.sock, deploy/lib.sh
worker_metrics_socket): beside every request socket, reachable by nginx's user and
no other unprivileged user, answering Prometheus text; a restarted worker serves
it again (the socket file a killed worker left behind is replaced)."""
import grp
import os
import pathlib
import pwd
import signal
import stat
import subprocess
import time

RUN_DIR = pathlib.Path(os.environ["MUSIC_RUN_DIR"])
NGINX_USER = "www-data"
SERVICE_USER = os.environ.get("MUSIC_SERVICE_USER", "music")


def scrape_as(user, path):
    """A FastCGI GET of the metrics socket through cgi-fcgi, run as `user`."""
    env = {"REQUEST_METHOD": "GET", "REQUEST_URI": "/internal/metrics/worker", "SCRIPT_NAME": "/internal/metrics/worker",
           "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(["runuser", "-u", user, "--", "cgi-fcgi", "-bind", "-connect", str(path)], env=env,
                          capture_output=True, timeout=20)


def connect_as(user, path):
    probe = f"import socket; socket.socket(socket.AF_UNIX).connect({str(path)!r})"
    return subprocess.run(["runuser", "-u", user, "--", "python3", "-c", probe], capture_output=True, text=True,
                          timeout=20)


def wait_for(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def metrics_sockets():
    workers = sorted(RUN_DIR.glob("worker-*.sock"))
    assert workers, f"no worker sockets in {RUN_DIR}"
    return [RUN_DIR / "metrics" / path.name for path in workers]


def test_the_metrics_folder_is_the_service_users_with_nginxs_group():
    status = (RUN_DIR / "metrics").stat()
    assert pwd.getpwuid(status.st_uid).pw_name == SERVICE_USER
    assert grp.getgrgid(status.st_gid).gr_name == NGINX_USER
    assert stat.S_IMODE(status.st_mode) == 0o2750


def test_each_worker_answers_metrics_to_nginx_and_no_one_else():
    for path in metrics_sockets():
        assert wait_for(path.exists), f"{path} missing"
        status = path.stat()
        assert stat.S_IMODE(status.st_mode) == 0o660, path
        assert grp.getgrgid(status.st_gid).gr_name == NGINX_USER, path
        answer = scrape_as(NGINX_USER, path)
        text = answer.stdout.decode(errors="replace")
        assert answer.returncode == 0 and text.startswith("Status: 200"), text[:300]
        assert "text/plain; version=0.0.4" in text
        assert "\nmusic_worker_threads " in text and "\nmusic_build_info{" in text
        refused = connect_as("nobody", path)
        assert refused.returncode != 0 and "PermissionError" in refused.stderr


def test_a_killed_worker_serves_its_metrics_socket_again():
    var = pathlib.Path(os.environ["MUSIC_VAR_DIR"])
    pid_file = var / "run" / "worker-1.pid"
    path = RUN_DIR / "metrics" / "worker-1.sock"
    before = int(pid_file.read_text())
    os.kill(before, signal.SIGKILL)
    # The supervisor starts a new worker; the socket file the dead one left is replaced.
    assert wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() not in ("", str(before)))
    assert wait_for(lambda: scrape_as(NGINX_USER, path).stdout.startswith(b"Status: 200")), "no answer after the restart"
