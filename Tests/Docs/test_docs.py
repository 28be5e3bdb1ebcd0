"""The documentation stands on its own and names only what exists.

README.md and docs/*.md: every relative link resolves to a file of the
repository (no anchors, nothing outside it), every repository path written in
backticks exists, every MUSIC_* variable deploy/lib.sh reads is in README's
configuration table, and nothing points at files outside the repository.
"""
import glob
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
# Where a path written in backticks goes into the repository.
TOP_FOLDERS = ("Sources/", "Tests/", "deploy/", "nginx/", "docs/")
TOP_FILES = re.compile(r"^(openapi\.ya?ml|Package\.swift|Package\.resolved|README\.md)$")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
INLINE_CODE = re.compile(r"`([^`\n]+)`")


def ids(paths):
    return [str(path.relative_to(ROOT)) for path in paths]


def test_the_documents_exist():
    assert (ROOT / "README.md").is_file()
    assert len(DOCUMENTS) > 1, "docs/ holds the documentation that README points to"


@pytest.mark.parametrize("document", DOCUMENTS, ids=ids(DOCUMENTS))
def test_relative_links_resolve(document):
    text = FENCE.sub("", document.read_text(encoding="utf-8"))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        if "#" in target:
            broken.append(f"{target}: links point to files, not anchors")
            continue
        resolved = (document.parent / target).resolve()
        if ROOT not in resolved.parents and resolved != ROOT:
            broken.append(f"{target}: outside the repository")
        elif not resolved.exists():
            broken.append(f"{target}: no such file")
    assert not broken, f"{document.relative_to(ROOT)}: " + "; ".join(broken)


def repository_paths(text):
    """Words in backticks (inline spans and fenced blocks) that name a repository path."""
    words = []
    for block in FENCE.findall(text):
        words += block.split()
    for span in INLINE_CODE.findall(FENCE.sub("", text)):
        words += span.split()
    paths = []
    for word in words:
        word = word.strip("\"'`()[],;:.")
        word = re.sub(r":\d+$", "", word)  # file:line
        if word.startswith(TOP_FOLDERS) or TOP_FILES.match(word):
            paths.append(word)
    return paths


@pytest.mark.parametrize("document", DOCUMENTS, ids=ids(DOCUMENTS))
def test_backticked_paths_exist(document):
    missing = []
    for path in repository_paths(document.read_text(encoding="utf-8")):
        if any(character in path for character in "*?["):
            found = glob.glob(str(ROOT / path))
        else:
            found = (ROOT / path).exists()
        if not found:
            missing.append(path)
    assert not missing, f"{document.relative_to(ROOT)} names paths that do not exist: {sorted(set(missing))}"


def variables_lib_reads():
    source = (ROOT / "deploy" / "lib.sh").read_text(encoding="utf-8")
    # Comment lines document; only code reads.
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))
    return set(re.findall(r"\$\{?(MUSIC_[A-Z0-9_]+)", code))


def configuration_table():
    """The variables named in the first cell of README's configuration table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Configuration\n(.*?)(?=^## )", text + "\n## end\n", re.M | re.S)
    assert section, "README.md has a '## Configuration' section"
    names = set()
    for line in section.group(1).splitlines():
        if line.startswith("|"):
            first = line.split("|")[1]
            names |= set(re.findall(r"`(MUSIC_[A-Z0-9_]+)`", first))
    return names


def test_lib_sh_is_parsed():
    # Guards the parser: these are read by deploy/lib.sh today.
    assert {"MUSIC_VAR_DIR", "MUSIC_HTTPS_PORT", "MUSIC_TLS_KEY"} <= variables_lib_reads()


def test_every_variable_lib_sh_reads_is_documented():
    missing = variables_lib_reads() - configuration_table()
    assert not missing, f"README's configuration table lacks {sorted(missing)}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=ids(DOCUMENTS))
def test_nothing_points_outside_the_repository(document):
    text = document.read_text(encoding="utf-8")
    for needle in ("../shared", "shared/spec"):
        if needle in text:
            pytest.fail(f"{document.relative_to(ROOT)} mentions {needle}")


def test_worker_backlog_is_the_same_everywhere():
    """deploy/lib.sh's WORKER_BACKLOG (spawn-fcgi -b), the systemd socket unit's
    Backlog= and the worker's own default for --socket/--listen."""
    lib = re.search(r"^WORKER_BACKLOG=(\d+)$", (ROOT / "deploy" / "lib.sh").read_text(), re.M).group(1)
    unit = re.search(r"^Backlog=(\d+)$", (ROOT / "deploy" / "systemd" / "music-fcgi@.socket").read_text(), re.M).group(1)
    server = re.search(r"backlog: Int32 = (\d+),", (ROOT / "Sources" / "FastCGI" / "FastCGIServer.swift").read_text()).group(1)
    assert lib == unit == server


def test_worker_descriptor_limit_is_the_same_everywhere():
    """deploy/lib.sh's WORKER_NOFILE (the soft limit deploy/up's supervisor sets)
    and the systemd unit's LimitNOFILE=."""
    lib = re.search(r"^WORKER_NOFILE=(\d+)$", (ROOT / "deploy" / "lib.sh").read_text(), re.M).group(1)
    unit = re.search(r"^LimitNOFILE=(\d+)$", (ROOT / "deploy" / "systemd" / "music-fcgi@.service").read_text(), re.M).group(1)
    assert lib == unit


def test_public_url_default_is_the_same_everywhere():
    """music-fcgi's default public URL (PublicURL.defaultValue), deploy/lib.sh's
    default for a stack on port 443 (the Debian package's env file is rendered
    from it) and the systemd unit's setting; lib.sh gives other ports their own."""
    swift = re.search(r'static let defaultValue = "([^"]+)"',
                      (ROOT / "Sources" / "MusicAPI" / "PublicURL.swift").read_text()).group(1)
    lib = (ROOT / "deploy" / "lib.sh").read_text()
    function = re.search(r"^default_public_url\(\) \{.*\}$", lib, re.M).group(0)
    rendered = subprocess.run(["bash", "-c", function + "\ndefault_public_url 443; default_public_url 21543"],
                              capture_output=True, text=True, check=True, timeout=10).stdout.split()
    unit = re.search(r"^Environment=MUSIC_PUBLIC_URL=(\S+)$",
                     (ROOT / "deploy" / "systemd" / "music-fcgi@.service").read_text(), re.M).group(1)
    assert swift == rendered[0] == unit == "https://localhost"
    assert rendered[1] == "https://localhost:21543"
    assert "@PUBLIC_URL@|$(default_public_url 443)" in (ROOT / "deploy" / "package").read_text()
    assert re.search(r"^MUSIC_PUBLIC_URL=@PUBLIC_URL@$", (ROOT / "deploy" / "debian" / "env").read_text(), re.M)


def metric_names_in_sources():
    """Every metric the code makes: the names written as string literals in
    Sources/ (the PostgreSQL URL's music_*_ms parameters are not metrics)."""
    names = set()
    for path in (ROOT / "Sources").rglob("*.swift"):
        names |= set(re.findall(r'"((?:music|process)_[a-z0-9_]+)"', path.read_text()))
    return {name for name in names if not name.endswith("_ms")}


def test_operations_lists_every_metric_and_only_those():
    section = document_section("docs/operations.md", "Metrics")
    listed = set(re.findall(r"`((?:music|process)_[a-z0-9_]+)(?:\{[^}]*\})?`", section))
    made = metric_names_in_sources()
    assert "music_http_requests_total" in made and "process_open_fds" in made  # guards the parser
    assert made - listed == set(), f"docs/operations.md's Metrics section lacks {sorted(made - listed)}"
    assert listed - made == set(), f"docs/operations.md's Metrics section names metrics no code makes: {sorted(listed - made)}"


def document_section(path, title):
    text = (ROOT / path).read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def test_bench_duration_is_the_estimate():
    """How long deploy/bench takes with the defaults, where README, docs/performance.md
    and deploy/bench say it, is what deploy/kit/bench.py --estimate prints."""
    estimate = subprocess.run(["python3", str(ROOT / "deploy" / "kit" / "bench.py"), "--estimate"], capture_output=True,
                              text=True, check=True).stdout.strip()
    places = {
        "README.md": r"`deploy/bench` \(about (\d+) minutes\)",
        "docs/performance.md": r"about (\d+) minutes with the defaults",
        "deploy/bench": r"about (\d+) minutes with the defaults",
    }
    for name, pattern in places.items():
        said = re.findall(pattern, re.sub(r"\s*\n#?\s*", " ", (ROOT / name).read_text()))
        assert said == [estimate], f"{name}: {said}, the estimate is {estimate}"


def test_kept_alive_figures_are_the_same_everywhere():
    """nginx's idle upstream connections per pool (reads, writes, health) in both
    MUSIC_KEPT_ALIVE modes, from deploy/lib.sh, as README, docs/operations.md,
    docs/scaling-out.md and music-fcgi's help text repeat them (and the help's
    thread budget: the bind figures times NGINX_WORKER_PROCESSES)."""
    lib = (ROOT / "deploy" / "lib.sh").read_text()
    modes = re.findall(r"^\s*UPSTREAM_KEEPALIVE=(\d+) WRITER_KEEPALIVE=(\d+) HEALTH_KEEPALIVE=(\d+)$", lib, re.M)
    assert len(modes) == 2, modes
    (bind, park) = [tuple(int(n) for n in mode) for mode in modes]
    workers = int(re.search(r"^NGINX_WORKER_PROCESSES=(\d+)$", lib, re.M).group(1))

    def text(*path):
        return re.sub(r"\s+", " ", (ROOT.joinpath(*path)).read_text())

    def three(figures):
        return f"{figures[0]:,}, {figures[1]:,} and {figures[2]:,}"

    readme = text("README.md")
    row = next(line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `MUSIC_KEPT_ALIVE`"))
    assert f"keeps {three(bind)} idle" in row and f"not {three(park)})" in row
    assert f"nginx keeps {park[0]:,} per pool and process" in readme and park[0] == park[1]
    operations = text("docs", "operations.md")
    assert f"up to {park[0]:,} for reads, {park[1]:,} for writes and {park[2]:,} for health per nginx process" in operations
    assert f"renders `keepalive` {three(bind)};" in operations and f"always has {three(park)}," in operations
    scaling = text("docs", "scaling-out.md")
    assert f"up to {park[0]:,} idle connections per pool" in scaling and f"`MUSIC_KEPT_ALIVE=bind` ({three(bind)})" in scaling
    help_text = text("Sources", "music-fcgi", "MusicFCGI.swift")
    assert f"({bind[0]} + {bind[1]} + {bind[2]}) x {workers} = {sum(bind) * workers})" in help_text


def test_nginx_worker_processes_are_the_same_everywhere():
    """deploy/lib.sh's NGINX_WORKER_PROCESSES (rendered into nginx.conf) and the
    figure docs/operations.md gives."""
    lib = re.search(r"^NGINX_WORKER_PROCESSES=(\d+)$", (ROOT / "deploy" / "lib.sh").read_text(), re.M).group(1)
    said = re.findall(r"(\d+) nginx worker processes", re.sub(r"\s+", " ", (ROOT / "docs" / "operations.md").read_text()))
    assert said == [lib]
