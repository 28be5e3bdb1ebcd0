"""The systemd units in deploy/systemd: sandboxed (systemd-analyze security, offline,
exposure 3.0 or below), ordered (workers require and follow the migrations), and
running as the service user of the local stack. (test_through_nginx.py runs
systemd-analyze verify on them.) Needs no running stack and no systemd as PID 1."""
import pathlib
import re
import shutil
import subprocess

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



def test_units_run_as_the_local_stacks_service_user():
    """One name for the service user: deploy/lib.sh's default is the units' User=."""
    lib = (UNITS.parent / "lib.sh").read_text()
    default = re.search(r"^SERVICE_USER=\$\{MUSIC_SERVICE_USER:-([a-z_][a-z0-9_-]*)\}$", lib, re.M)
    assert default, "SERVICE_USER default not found in deploy/lib.sh"
    for unit in SERVICES:
        text = (UNITS / unit).read_text()
        assert re.findall(r"^User=(.*)$", text, re.M) == [default.group(1)], unit
        assert re.findall(r"^Group=(.*)$", text, re.M) == [default.group(1)], unit
