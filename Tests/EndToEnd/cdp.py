"""A small Chrome DevTools Protocol client for headless Chromium, over
--remote-debugging-pipe: Chromium reads commands from its file descriptor 3 and
writes answers and events to descriptor 4, each message one JSON text ended by a
NUL byte. No port is opened and no Python package is needed.

Every wait is bounded: a command answers within `timeout` seconds or raises
CDPError, a page loads within its own deadline, and Chromium is stopped by its
pid (Browser.close, then SIGTERM, then SIGKILL)."""
import base64
import fcntl
import json
import os
import shutil
import signal
import tempfile
import threading
import time

COMMAND_TIMEOUT = 20.0
LOAD_TIMEOUT = 20.0
CLOSE_TIMEOUT = 10.0


class CDPError(Exception):
    pass


def chromium_executable():
    """Debian's browser binary. /usr/bin/chromium is a wrapper script that adds
    flags from /etc/chromium.d (extensions, API keys) the tests do not want; it
    ends by exec-ing this binary, so either way the pid is the browser's."""
    for path in ("/usr/lib/chromium/chromium", shutil.which("chromium") or ""):
        if path and os.access(path, os.X_OK):
            return path
    raise CDPError("chromium is not installed (deploy/test installs the Debian package)")


def chromium_arguments(profile):
    arguments = [
        "--headless=new",
        f"--user-data-dir={profile}",
        "--remote-debugging-pipe",
        # The stack's certificate is self-signed for localhost.
        "--ignore-certificate-errors",
        # Tests reach loopback only: every host name but localhost fails to
        # resolve, and the browser's own background traffic is off.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
        "--no-proxy-server",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-domain-reliability",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--no-first-run",
        "--no-default-browser-check",
        "--no-pings",
        "--metrics-recording-only",
        "--mute-audio",
        # Containers often have a small /dev/shm; use the temp folder instead.
        "--disable-dev-shm-usage",
        "--disable-gpu",
        # Screenshots as wide as the viewport (no scrollbar's width taken off).
        "--hide-scrollbars",
        "about:blank",
    ]
    if os.geteuid() == 0:
        # Chromium refuses to start as root with its sandbox on: the sandbox
        # works by dropping privileges (setuid helper or user namespaces), which
        # root cannot meaningfully do, so Chromium exits with "Running as root
        # without --no-sandbox is not supported". CI runs the tests as root; the
        # pages opened are our own, from loopback.
        arguments.insert(0, "--no-sandbox")
    return arguments


class Browser:
    """One headless Chromium with its own temporary profile; `page()` opens a tab."""

    def __init__(self, timeout=COMMAND_TIMEOUT):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="music-chromium-")
        self._next_id = 0
        self._lock = threading.Lock()
        self._answers = {}
        self._answered = threading.Condition(self._lock)
        self._events = []
        self._closed = False
        self.stderr = open(os.path.join(self.profile, "chromium.stderr"), "wb")
        # The pipe ends go to descriptors 3 and 4 of the child. They are first
        # moved above 10 so that neither is one of 3 and 4 (a dup2 onto 3 must
        # not overwrite the end meant for 4); posix_spawn's file actions then
        # place them, and every other descriptor of ours is close-on-exec.
        command_read, self._command_write = (self._high(fd) for fd in os.pipe())
        self._event_read, event_write = (self._high(fd) for fd in os.pipe())
        self.pid = os.posix_spawn(
            chromium_executable(), [chromium_executable(), *chromium_arguments(self.profile)], os.environ,
            file_actions=[(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                          (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
                          (os.POSIX_SPAWN_DUP2, self.stderr.fileno(), 2),
                          (os.POSIX_SPAWN_DUP2, command_read, 3),
                          (os.POSIX_SPAWN_DUP2, event_write, 4)])
        self.returncode = None
        os.close(command_read)
        os.close(event_write)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        # The first answer proves the pipe works; without it, nothing is left behind.
        try:
            self.version = self.send("Browser.getVersion")
        except CDPError:
            self.close()
            raise

    @staticmethod
    def _high(fd):
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)
        return high

    def running(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode is None

    def _wait_exit(self, timeout):
        deadline = time.monotonic() + timeout
        while self.running():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    # --- transport ---

    def _read_loop(self):
        buffer = b""
        while True:
            try:
                chunk = os.read(self._event_read, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                with self._lock:
                    if "id" in message:
                        self._answers[message["id"]] = message
                    else:
                        self._events.append(message)
                    self._answered.notify_all()
        with self._lock:
            self._closed = True
            self._answered.notify_all()

    def send(self, method, params=None, session=None, timeout=None):
        with self._lock:
            self._next_id += 1
            number = self._next_id
        message = {"id": number, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._command_write, data):]
        except OSError as error:
            raise CDPError(f"{method}: chromium is gone ({error})") from error
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._lock:
            while number not in self._answers:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    raise CDPError(f"{method}: no answer within {timeout or self.timeout} s"
                                   f"{' (chromium exited)' if self._closed else ''}")
                self._answered.wait(left)
            answer = self._answers.pop(number)
        if "error" in answer:
            raise CDPError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def events(self, session=None, method=None):
        """The events received so far (of one session, of one method)."""
        with self._lock:
            return [event for event in self._events
                    if (session is None or event.get("sessionId") == session)
                    and (method is None or event["method"] == method)]

    def mark(self):
        """Where the events received so far end (for `wait_event`'s `after`)."""
        with self._lock:
            return len(self._events)

    def wait_event(self, predicate, timeout, after=0):
        """The first event from index `after` on (received or to come) that
        `predicate` accepts."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for event in self._events[after:]:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    raise CDPError(f"no awaited event within {timeout} s")
                self._answered.wait(left)

    # --- tabs ---

    def page(self, width, height, mobile=False):
        """A new tab in a fresh browser context (its own cookies and cache), with
        the given viewport, listening for console, log and CSP events."""
        context = self.send("Target.createBrowserContext")["browserContextId"]
        target = self.send("Target.createTarget", {"url": "about:blank", "browserContextId": context})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        return Page(self, context, target, session, width, height, mobile)

    def close(self):
        """Browser.close, then SIGTERM, then SIGKILL, each awaited with a deadline."""
        if self.running():
            try:
                self.send("Browser.close", timeout=CLOSE_TIMEOUT)
            except CDPError:
                pass
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if self._wait_exit(CLOSE_TIMEOUT):
                    break
                os.kill(self.pid, sig)
            self._wait_exit(CLOSE_TIMEOUT)
        for fd in (self._command_write, self._event_read):
            try:
                os.close(fd)
            except OSError:
                pass
        self._reader.join(CLOSE_TIMEOUT)
        self.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)


# Runs in every document before the page's own content: collects CSP violations
# (the `securitypolicyviolation` event fires on the document for each blocked
# load, inline script, inline style or handler). DevTools-injected scripts are
# not subject to the page's CSP.
VIOLATION_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push({directive: event.violatedDirective, blocked: event.blockedURI,
                               sample: event.sample});
});
"""


class Page:
    def __init__(self, browser, context, target, session, width, height, mobile):
        self.browser, self.context, self.target, self.session = browser, context, target, session
        self.width = width
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Page.addScriptToEvaluateOnNewDocument", {"source": VIOLATION_LISTENER})
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def send(self, method, params=None, timeout=None):
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def open(self, url, timeout=LOAD_TIMEOUT):
        """Navigates and waits for the load event; returns the main document's
        response (status, headers) as the Network domain saw it."""
        start = self.browser.mark()
        frame = self.send("Page.navigate", {"url": url})
        if frame.get("errorText"):
            raise CDPError(f"navigation failed: {frame['errorText']}")
        loader = frame.get("loaderId")
        self.browser.wait_event(lambda event: event.get("sessionId") == self.session
                                and event["method"] == "Page.loadEventFired", timeout, after=start)
        for event in self.browser.events(self.session, "Network.responseReceived"):
            if event["params"].get("loaderId") == loader and event["params"]["type"] == "Document":
                return event["params"]["response"]
        raise CDPError("no response for the document")

    def evaluate(self, expression):
        """The JSON value of a JavaScript expression (promises awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise CDPError(f"evaluation failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def responses(self):
        """Every response received in this tab: [(url, status, headers)]."""
        return [(event["params"]["response"]["url"], event["params"]["response"]["status"],
                 event["params"]["response"]["headers"])
                for event in self.browser.events(self.session, "Network.responseReceived")]

    def console_errors(self):
        """Console errors, browser log errors (failed loads, CSP refusals) and
        uncaught exceptions, as text."""
        errors = []
        for event in self.browser.events(self.session, "Runtime.consoleAPICalled"):
            if event["params"]["type"] in ("error", "assert"):
                errors.append("console: " + " ".join(str(arg.get("value", arg.get("description")))
                                                     for arg in event["params"]["args"]))
        for event in self.browser.events(self.session, "Log.entryAdded"):
            entry = event["params"]["entry"]
            if entry["level"] == "error":
                errors.append(f"log ({entry['source']}): {entry['text']} {entry.get('url', '')}")
        for event in self.browser.events(self.session, "Runtime.exceptionThrown"):
            details = event["params"]["exceptionDetails"]
            errors.append("exception: " + details.get("exception", {}).get("description", details["text"]))
        return errors

    def csp_violations(self):
        return self.evaluate("window.__cspViolations")

    def screenshot(self, path):
        """A PNG of the whole page at the viewport's width."""
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self):
        self.browser.send("Target.closeTarget", {"targetId": self.target})
        self.browser.send("Target.disposeBrowserContext", {"browserContextId": self.context})
