"""The systemd units in deploy/systemd: sandboxed (systemd-analyze security, offline,
exposure 3.0 or below), ordered (workers require and follow the migrations), and
running as the service user of the local stack. (test_through_nginx.py runs
systemd-analyze verify on them.) Needs no running stack and no systemd as PID 1."""
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import time

import pytest

UNITS = pathlib.Path(__file__).resolve().parents[2] / "deploy" / "systemd"
SERVICES = ["music-fcgi@.service", "music-migrate.service"]
MAX_EXPOSURE = 3.0

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                reason="systemd-analyze is not installed (package systemd)")


@pytest.mark.parametrize("unit", SERVICES)
def test_exposure_at_most_3(unit):
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(UNITS / unit)],
                            capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout + result.stderr)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


def test_workers_require_and_follow_migrations():
    unit = (UNITS / "music-fcgi@.service").read_text()
    requires = " ".join(re.findall(r"^Requires=(.*)$", unit, re.M)).split()
    after = " ".join(re.findall(r"^After=(.*)$", unit, re.M)).split()
    assert "music-migrate.service" in requires and "music-migrate.service" in after


def test_migrations_wait_for_the_network_and_retry():
    """The workers require the migrations: a database host not yet reachable at boot
    must delay them, not leave them failed for good."""
    unit = (UNITS / "music-migrate.service").read_text()
    after = " ".join(re.findall(r"^After=(.*)$", unit, re.M)).split()
    wants = " ".join(re.findall(r"^Wants=(.*)$", unit, re.M)).split()
    assert "network-online.target" in after and "network-online.target" in wants
    assert re.search(r"^Restart=on-failure$", unit, re.M)
    assert re.search(r"^StartLimitIntervalSec=0$", unit, re.M), "retries must not hit the start limit"


def test_units_run_as_the_local_stacks_service_user():
    """One name for the service user: deploy/lib.sh's default is the units' User=."""
    lib = (UNITS.parent / "lib.sh").read_text()
    default = re.search(r"^SERVICE_USER=\$\{MUSIC_SERVICE_USER:-([a-z_][a-z0-9_-]*)\}$", lib, re.M)
    assert default, "SERVICE_USER default not found in deploy/lib.sh"
    for unit in SERVICES:
        text = (UNITS / unit).read_text()
        assert re.findall(r"^User=(.*)$", text, re.M) == [default.group(1)], unit
        assert re.findall(r"^Group=(.*)$", text, re.M) == [default.group(1)], unit


# --- The sandbox against the real executables ---
# SystemCallFilter= and MemoryDenyWriteExecute= can stop a program that works
# everywhere else (a runtime that generates code, a syscall outside the set).
# Without systemd as PID 1 the same rules are built here with libseccomp, from the
# unit's own lines, and the worker and music-admin run under them. The default
# action kills the process (the units answer EPERM instead): stricter, so any
# syscall outside the set shows.

SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_MASKED_EQ = 7
PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000
NOBODY = 65534


def expand(group, seen=None):
    """The syscall names of a systemd group (@name), nested groups expanded."""
    seen = set() if seen is None else seen
    if group in seen:
        return set()
    seen.add(group)
    output = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True, text=True,
                            check=True, timeout=30).stdout
    names = set()
    for line in output.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        names |= expand(item, seen) if item.startswith("@") else {item}
    return names


def unit_sandbox(unit):
    """(allowed syscall names, MemoryDenyWriteExecute) from the unit's lines."""
    allowed, denied = set(), set()
    text = (UNITS / unit).read_text()
    for value in re.findall(r"^SystemCallFilter=(.*)$", text, re.M):
        target = denied if value.startswith("~") else allowed
        for item in value.lstrip("~").split():
            target |= expand(item) if item.startswith("@") else {item}
    return allowed - denied, re.search(r"^MemoryDenyWriteExecute=yes$", text, re.M) is not None


def seccomp_preexec(allowed, deny_write_execute):
    import ctypes

    class ArgCmp(ctypes.Structure):
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]

    lib = ctypes.CDLL("libseccomp.so.2")
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(ArgCmp)]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    # As systemd's MemoryDenyWriteExecute=: no mapping both writable and executable,
    # no mprotect/pkey_mprotect to executable, no executable shared memory.
    conditional = {"mmap": (2, PROT_WRITE | PROT_EXEC, [0, PROT_WRITE, PROT_EXEC]),
                   "mprotect": (2, PROT_EXEC, [0]), "pkey_mprotect": (2, PROT_EXEC, [0]),
                   "shmat": (2, SHM_EXEC, [0])} if deny_write_execute else {}

    def load():
        # As the units do, not as root: SQLite run by root gives the files it
        # creates the database's owner (fchown, in @privileged).
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        context = lib.seccomp_init(SCMP_ACT_KILL_PROCESS)
        for name in sorted(allowed):
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number < 0:
                continue
            if name in conditional:
                index, mask, values = conditional[name]
                for value in values:
                    rule = ArgCmp(index, SCMP_CMP_MASKED_EQ, mask, value)
                    assert lib.seccomp_rule_add_array(context, SCMP_ACT_ALLOW, number, 1, ctypes.byref(rule)) == 0
            else:
                assert lib.seccomp_rule_add_array(context, SCMP_ACT_ALLOW, number, 0, None) == 0
        assert lib.seccomp_load(context) == 0

    return load


def fastcgi_get(socket_path, uri):
    """GET through cgi-fcgi (libfcgi-bin): the status line of the answer."""
    env = {"REQUEST_METHOD": "GET", "REQUEST_URI": uri, "SCRIPT_NAME": uri, "SERVER_PROTOCOL": "HTTP/1.1",
           "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    result = subprocess.run(["cgi-fcgi", "-bind", "-connect", socket_path], env=env, capture_output=True,
                            timeout=20)
    return result.stdout.decode(errors="replace")


def test_executables_run_under_the_units_syscall_filter_and_memory_policy(tmp_path):
    bin_dir = os.environ.get("MUSIC_BIN_DIR")
    if not bin_dir or not os.access(os.path.join(bin_dir, "music-fcgi"), os.X_OK):
        pytest.skip("MUSIC_BIN_DIR does not hold a built music-fcgi")
    if os.geteuid() != 0:
        pytest.skip("runs the executables as nobody: needs root")
    if shutil.which("cgi-fcgi") is None:
        pytest.skip("cgi-fcgi is not installed (package libfcgi-bin)")
    os.chown(tmp_path, NOBODY, NOBODY)
    for parent in tmp_path.parents:
        if parent == pathlib.Path("/tmp"):
            break
        os.chmod(parent, parent.stat().st_mode | 0o001)
    db = str(tmp_path / "music.sqlite")
    migrate = subprocess.run([os.path.join(bin_dir, "music-admin"), "migrate", "--db", db], capture_output=True,
                             timeout=60, preexec_fn=seccomp_preexec(*unit_sandbox("music-migrate.service")))
    assert migrate.returncode == 0, migrate.stderr.decode(errors="replace")
    demo = subprocess.run([os.path.join(bin_dir, "music-admin"), "demo", "--db", db, "--json"], capture_output=True,
                          timeout=60, preexec_fn=seccomp_preexec(*unit_sandbox("music-migrate.service")))
    assert demo.returncode == 0, demo.stderr.decode(errors="replace")

    socket_path = str(tmp_path / "worker.sock")
    metrics_path = str(tmp_path / "metrics.sock")
    worker = subprocess.Popen([os.path.join(bin_dir, "music-fcgi"), "--socket", socket_path, "--db", db,
                               "--threads", "8", "--log-level", "warning", "--metrics-socket", metrics_path],
                              stderr=subprocess.PIPE,
                              preexec_fn=seccomp_preexec(*unit_sandbox("music-fcgi@.service")))
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(socket_path) and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.poll() is None, f"the worker died under the sandbox: {worker.returncode}"
        assert fastcgi_get(socket_path, "/v1/music/health").startswith("Status: 200")
        organization = json.loads(demo.stdout)["organization_id"]
        # An authenticated read and the store's threads, then a SIGTERM'd exit
        # (signals to the threads blocked in accept).
        assert fastcgi_get(socket_path, f"/v1/music/{organization}/collections").startswith("Status: 401")
        # A scrape: the listen backlog (sock_diag netlink) and /proc/self read under the filter.
        scrape = fastcgi_get(metrics_path, "/internal/metrics/worker-1")
        assert scrape.startswith("Status: 200"), scrape
        # The worker's own socket's backlog (deploy/lib.sh's WORKER_BACKLOG), as Linux caps it.
        wanted = int(re.search(r"^WORKER_BACKLOG=(\d+)$", (UNITS.parent / "lib.sh").read_text(), re.M).group(1))
        limit = min(wanted, int(pathlib.Path("/proc/sys/net/core/somaxconn").read_text()))
        for sample in (f"music_worker_listen_backlog_limit {limit}", "music_worker_requests_total 2", "process_open_fds "):
            assert sample in scrape, scrape
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0, worker.stderr.read().decode(errors="replace")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
