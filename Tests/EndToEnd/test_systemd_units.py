"""The systemd units in deploy/systemd: sandboxed (systemd-analyze security, offline,
exposure 3.0 or below), valid (systemd-analyze verify), and ordered (workers
require and follow the migrations). Needs no running stack and no systemd as PID 1."""
import os
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


def test_units_verify(tmp_path):
    """systemd-analyze verify checks that ExecStart's program exists: the units are
    copied with /usr/local/bin/ pointing at the build (MUSIC_BIN_DIR)."""
    bin_dir = os.environ.get("MUSIC_BIN_DIR")
    if not bin_dir or not os.access(os.path.join(bin_dir, "music-fcgi"), os.X_OK):
        pytest.skip("MUSIC_BIN_DIR does not hold a built music-fcgi: cannot point ExecStart at it")
    for unit in UNITS.iterdir():
        text = unit.read_text().replace("/usr/local/bin/", bin_dir.rstrip("/") + "/")
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", "music-migrate.service", "music-fcgi@1.service",
                             "music-fcgi@1.socket"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    # Unknown or misspelt settings are only warnings: any output is a failure.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr
