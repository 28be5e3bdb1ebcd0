"""What systemd does for the installed music-collections units, where systemd
cannot run (no systemd as PID 1: CI containers, this test). Read from the
installed unit files themselves, not restated:

  music-fcgi@N.socket   ListenStream, SocketUser/SocketGroup/SocketMode, Backlog,
                        DirectoryMode: the socket is created once and kept open
                        for as long as this process runs, across worker restarts
  music-fcgi@N.service  ExecStartPre with "+" (run as root), then
                        ExecStart run as User/Group with the listening socket on
                        standard input (StandardInput=socket), Environment= (with %i) then
                        EnvironmentFile= (optional with "-"), KillSignal on stop,
                        SIGKILL after TimeoutStopSec, Restart=always after RestartSec
  music-migrate.service ExecStart run as User/Group, once (oneshot)
  nginx.service         with --nginx-pid-file: the test's nginx (reload: SIGHUP)

Not emulated: the sandbox (Tests/EndToEnd/test_systemd_units.py checks it
separately), socket activation on the first connection (the workers start at
once), the journal (output goes to a log file per unit).

    serve --control PATH --log-dir DIR --instances N   the manager (foreground)
    client --control PATH ARGS...                      systemctl's command line
The client is what `systemctl` is in the test's mount namespace, so the
maintainer scripts' systemctl and deb-systemd-invoke calls reach the manager.
"""
import argparse
import grp
import os
import pwd
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

UNIT_DIR = "/lib/systemd/system"


def parse_unit(name):
    """{key: [values]} of a unit file (sections merged; the names are distinct)."""
    values = {}
    with open(os.path.join(UNIT_DIR, name)) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";", "[")):
                continue
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def last(unit, key, default=None):
    return unit.get(key, [default])[-1]


def seconds(value):
    match = re.fullmatch(r"([0-9.]+)(ms|s)?", value)
    return float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)


def environment(unit, instance):
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    for item in unit.get("Environment", []):
        for pair in shlex.split(item.replace("%i", instance)):
            key, _, value = pair.partition("=")
            env[key] = value
    for item in unit.get("EnvironmentFile", []):
        optional, path = item.startswith("-"), item.lstrip("-")
        if not os.path.exists(path):
            if optional:
                continue
            raise FileNotFoundError(path)
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith(("#", ";")) and "=" in line:
                    key, _, value = line.partition("=")
                    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                        value = value[1:-1]
                    env[key.strip()] = value
    return env


def spawn(unit, instance, stdin_fd, log_path):
    """Forks and execs the unit's ExecStart as its User/Group; returns the pid."""
    command = shlex.split(last(unit, "ExecStart").replace("%i", instance))
    user = pwd.getpwnam(last(unit, "User"))
    group = grp.getgrnam(last(unit, "Group"))
    env = environment(unit, instance)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            os.dup2(stdin_fd, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.closerange(3, 65536)
            os.umask(int(last(unit, "UMask", "0022"), 8))
            os.setgroups([])
            os.setgid(group.gr_gid)
            os.setuid(user.pw_uid)
            os.chdir("/")
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            os.execve(command[0], command, env)
        finally:
            os._exit(127)
    os.close(log)
    return pid


class Worker:
    """music-fcgi@N: its socket (kept) and its process (restarted)."""

    def __init__(self, instance, log_dir):
        self.instance, self.log_dir = instance, log_dir
        self.lock = threading.Lock()
        self.pid, self.stopping, self.starts = None, False, 0
        self.open_socket()

    def open_socket(self):
        unit = parse_unit("music-fcgi@.socket")
        path = last(unit, "ListenStream").replace("%i", self.instance)
        os.makedirs(os.path.dirname(path), mode=int(last(unit, "DirectoryMode", "0755"), 8), exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.socket.bind(path)
        os.chown(path, pwd.getpwnam(last(unit, "SocketUser")).pw_uid, grp.getgrnam(last(unit, "SocketGroup")).gr_gid)
        os.chmod(path, int(last(unit, "SocketMode"), 8))
        self.socket.listen(int(last(unit, "Backlog", "128")))
        self.path = path

    def start(self):
        with self.lock:
            if self.pid is not None:
                return
            self.stopping = False
            unit = parse_unit("music-fcgi@.service")
            assert last(unit, "StandardInput") == "socket"
            for pre in unit.get("ExecStartPre", []):
                # Only the privileged form is used (and emulated): "+" runs as root.
                assert pre.startswith("+"), f"ExecStartPre={pre}: only '+' commands are emulated"
                subprocess.run(shlex.split(pre[1:].replace("%i", self.instance)), check=True)
            self.pid = spawn(unit, self.instance, self.socket.fileno(),
                             os.path.join(self.log_dir, f"music-fcgi@{self.instance}.log"))
            self.starts += 1
            threading.Thread(target=self.reap, args=(self.pid, unit), daemon=True).start()

    def reap(self, pid, unit):
        os.waitpid(pid, 0)
        with self.lock:
            if self.pid != pid:
                return
            self.pid = None
            if self.stopping or last(unit, "Restart") != "always":
                return
        time.sleep(seconds(last(unit, "RestartSec", "100ms")))
        self.start()

    def stop(self):
        unit = parse_unit("music-fcgi@.service")
        with self.lock:
            self.stopping, pid = True, self.pid
        if pid is None:
            return
        os.kill(pid, getattr(signal, last(unit, "KillSignal", "SIGTERM")))
        deadline = time.monotonic() + seconds(last(unit, "TimeoutStopSec", "90s"))
        while self.pid == pid and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.pid == pid:
            os.kill(pid, signal.SIGKILL)
            while self.pid == pid:
                time.sleep(0.02)

    def active(self):
        return self.pid is not None


class Manager:
    def __init__(self, instances, log_dir, nginx_pid_file=None):
        self.log_dir, self.nginx_pid_file = log_dir, nginx_pid_file
        self.workers = {str(i): Worker(str(i), log_dir) for i in range(1, instances + 1)}
        self.migrate_active = False
        self.calls = open(os.path.join(log_dir, "systemctl-calls.log"), "a", buffering=1)

    def migrate(self):
        unit = parse_unit("music-migrate.service")
        pid = spawn(unit, "", os.open(os.devnull, os.O_RDONLY), os.path.join(self.log_dir, "music-migrate.log"))
        _, status = os.waitpid(pid, 0)
        self.migrate_active = os.waitstatus_to_exitcode(status) == 0
        return 0 if self.migrate_active else 1

    def worker(self, name):
        match = re.fullmatch(r"music-fcgi@(\d+)\.(service|socket)", name)
        return (self.workers.get(match.group(1)), match.group(2)) if match else (None, None)

    def command(self, args):
        """systemctl's arguments -> (exit code, output)."""
        self.calls.write(" ".join(args) + "\n")
        if "--version" in args:
            return 0, "systemd 252 (emulated)\n"
        words = [a for a in args if not a.startswith("-")]
        verb, units = words[0], words[1:]
        if verb in ("daemon-reload", "enable", "disable"):
            return 0, ""
        if verb == "list-units":
            names = [f"music-fcgi@{i}.socket" for i in self.workers]
            names += [f"music-fcgi@{i}.service" for i, w in self.workers.items() if w.active()]
            names += ["music-migrate.service"] if self.migrate_active else []
            return 0, "".join(f"{n} loaded active running -\n" for n in names)
        if verb == "is-enabled":
            wants = "/etc/systemd/system/sockets.target.wants/"
            state = "enabled" if all(os.path.exists(wants + u) for u in units) else "static"
            return (0 if state == "enabled" else 1), state + "\n"
        code = 0
        for name in units:
            worker, kind = self.worker(name)
            if name == "nginx.service" and self.nginx_pid_file:
                # The test's nginx serving the installed site stands for the host's.
                if verb == "is-active":
                    code |= 0 if os.path.exists(self.nginx_pid_file) else 3
                elif verb == "reload":
                    with open(self.nginx_pid_file) as f:
                        os.kill(int(f.read()), signal.SIGHUP)
                else:
                    return 1, f"unsupported: {verb} {name}\n"
            elif name == "music-migrate.service":
                if verb == "is-active":
                    code |= 0 if self.migrate_active else 3
                elif verb in ("start", "restart"):
                    code |= self.migrate()
                elif verb == "stop":
                    self.migrate_active = False
            elif worker is None:
                return 5, f"Unit {name} not found.\n"
            elif verb == "is-active":
                code |= 0 if kind == "socket" or worker.active() else 3
            elif kind == "socket":
                code |= 0 if verb in ("start", "stop", "restart") else 1
            elif verb == "start":
                worker.start()
            elif verb == "restart":
                worker.stop()
                worker.start()
            elif verb == "stop":
                worker.stop()
            else:
                return 1, f"unsupported: {verb}\n"
        return code, ""


def serve(arguments):
    manager = Manager(arguments.instances, arguments.log_dir, arguments.nginx_pid_file)
    # The workers Require= and come After= the migrations.
    if manager.migrate() != 0:
        sys.exit("music-migrate.service failed")
    for worker in manager.workers.values():
        worker.start()
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(arguments.control):
        os.unlink(arguments.control)
    control.bind(arguments.control)
    os.chmod(arguments.control, 0o600)
    control.listen(16)
    stop = threading.Event()

    def terminate(*_):
        stop.set()
        control.close()

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    print("ready", flush=True)
    while not stop.is_set():
        try:
            connection, _ = control.accept()
        except OSError:
            break
        with connection:
            request = b""
            while not request.endswith(b"\n"):
                chunk = connection.recv(4096)
                if not chunk:
                    break
                request += chunk
            code, output = manager.command(request.decode().rstrip("\n").split("\0"))
            connection.sendall(f"{code}\n{output}".encode())
    for worker in manager.workers.values():
        worker.stop()
        os.unlink(worker.path)


def client(arguments):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(120)
        connection.connect(arguments.control)
        connection.sendall(("\0".join(arguments.args) + "\n").encode())
        answer = b""
        while chunk := connection.recv(4096):
            answer += chunk
    code, _, output = answer.decode().partition("\n")
    if "--quiet" not in arguments.args and "-q" not in arguments.args:
        sys.stdout.write(output)
    return int(code)


def main():
    # client --control PATH, then systemctl's own arguments, options included.
    if sys.argv[1:3] == ["client", "--control"] and len(sys.argv) > 3:
        sys.exit(client(argparse.Namespace(control=sys.argv[3], args=sys.argv[4:])))
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--control", required=True)
    s.add_argument("--log-dir", required=True)
    s.add_argument("--instances", type=int, required=True)
    s.add_argument("--nginx-pid-file", help="nginx.service is the nginx with this pid file (is-active, reload)")
    serve(parser.parse_args())


if __name__ == "__main__":
    main()
