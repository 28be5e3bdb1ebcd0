"""Turns the nginx configuration deploy/lib.sh renders (a whole nginx.conf) into a
Debian site: the body of its http block, included by Debian's own nginx.conf
(sites-enabled/ sits inside its http block).

    python3 site.py RENDERED_FOLDER SNIPPETS_DIR STACK_VAR > nginx-site.template

What moves and why:
- settings (timeouts, types, logs, server_tokens, ...) go from the http level
  into each server block, through the snippet music-site-settings.conf: at the
  http level they would apply to the host's other sites, and default_type would
  be a duplicate of Debian's own;
- the temp paths are dropped: Debian's nginx has its own folders for them;
- the logs go to /var/log/nginx/music-collections-{access,error}.log (rotated
  by Debian's nginx logrotate rule);
- the upstream server line is written once with @N@ for the worker number:
  music-collections-site repeats it for each worker of MUSIC_WORKERS; the writers'
  upstream keeps worker 1 and a line with @B@, repeated for workers 2 and up as
  its backups; the health upstream's two lines (health socket, request socket as
  its backup) are repeated the same way.
Zones, maps, the log format and the upstream stay at the http level (their
names all start with music_).
The snippet music-site-settings.conf is written into RENDERED_FOLDER.
"""
import pathlib
import re
import sys

rendered, snippets, stack_var = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
conf = (rendered / "nginx.conf").read_text()


def fix_paths(text):
    text = text.replace(f"{stack_var}/log/nginx-", "/var/log/nginx/music-collections-")
    return text.replace(str(rendered) + "/", snippets + "/")


for name in [p.name for p in rendered.iterdir() if p.name != "nginx.conf"]:
    (rendered / name).write_text(fix_paths((rendered / name).read_text()))

start = re.search(r"^http \{\n", conf, re.M)
end = conf.rindex("\n}")
body = fix_paths(conf[start.end():end])

HTTP_LEVEL = ("limit_req_zone", "limit_conn_zone", "log_format", "include", "upstream", "server", "map")
DROPPED = ("client_body_temp_path", "fastcgi_temp_path", "proxy_temp_path", "uwsgi_temp_path", "scgi_temp_path")

site, settings, pending_comment = [], [], []
depth, statement = 0, []
for line in body.splitlines():
    stripped = line.strip()
    if depth == 0 and not statement:
        if stripped.startswith("#") or not stripped:
            pending_comment.append(line)
            continue
        word = stripped.split()[0]
        if word in DROPPED:
            pending_comment = []
            continue
        # A setting goes to the server level; a statement may span lines until its ";".
        statement, target = [line], (site if word in HTTP_LEVEL else settings)
        if not stripped.endswith(";") and not stripped.endswith("{"):
            continue
    elif statement:
        statement.append(line)
    depth += line.count("{") - line.count("}")
    if statement and depth == 0 and (stripped.endswith(";") or stripped.endswith("}")):
        target.extend(l.strip() if target is settings else l for l in (pending_comment + statement))
        pending_comment, statement = [], []

text = "\n".join(site) + "\n"
# The upstreams, from the single socket of the rendering: reads go to every worker
# (one line per worker, @N@), writes to worker 1 with the others as its backups
# (@B@: workers 2 and up; see nginx.conf.template's music_writers).
# Health (music_health): worker N's health socket, its request socket as a backup.
assert text.count("worker-1.sock") == 3, "expected one server in each upstream (rendered with one worker)"
assert text.count("health-1.sock") == 1, "expected the health upstream with worker 1's health socket"
text = text.replace("health-1.sock", "health-@N@.sock")
writers = re.search(r"(upstream music_writers \{\n(\s*)server (\S*)worker-1\.sock max_fails=0;\n)", text)
assert writers, "expected the writers' upstream with worker 1"
text = text.replace(writers.group(1), writers.group(1).replace("worker-1.sock", "worker-@W@.sock")
                    + f"{writers.group(2)}server {writers.group(3)}worker-@B@.sock backup max_fails=0;\n")
text = text.replace("worker-1.sock", "worker-@N@.sock").replace("worker-@W@.sock", "worker-1.sock")
# Each server block first takes the settings.
text = re.sub(r"(server \{\n(\s*)listen [^\n]*\n)", lambda m: f"{m.group(1)}{m.group(2)}include {snippets}/music-site-settings.conf;\n", text)
assert text.count("music-site-settings.conf") == 2, "expected two server blocks"
assert "@N@" in text and "_temp_path" not in text
(rendered / "music-site-settings.conf").write_text(
    "# Settings of the music collections servers (the http level of deploy/up's nginx.conf).\n"
    + "\n".join(settings) + "\n")
sys.stdout.write("# The music collections API (package music-collections). Enable it with\n"
                 "#   ln -s ../sites-available/music-collections /etc/nginx/sites-enabled/\n"
                 "#   nginx -t && systemctl reload nginx\n"
                 "# Rendered by music-collections-site from /etc/music-collections/env.\n" + text)
