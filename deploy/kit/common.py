"""What the benchmark, soak and crash-test drivers share."""
import json
import os
import subprocess


def music_admin(bin_dir, db, *arguments):
    """Runs `music-admin ARGUMENTS --db DB --json` and returns its JSON object."""
    result = subprocess.run([os.path.join(bin_dir, "music-admin"), *arguments, "--db", db, "--json"],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def rss_kib(pid):
    """The resident set size of a process, in KiB."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")
