# Shared by deploy/up, deploy/down and deploy/test. Source it; do not run it.
# Everything is configured by environment variables (defaults in brackets):
#   MUSIC_VAR_DIR     state: database, logs, pid files, TLS files   [<checkout>/var]
#   MUSIC_RUN_DIR     worker sockets; must be reachable by
#                     www-data, so never under /root              [/run/music-collections-<id>]
#   MUSIC_HTTP_PORT   plain HTTP on 127.0.0.1                      [8080]
#                     (private stacks use ports below 32768, outside the
#                     kernel's ephemeral range, so no client socket can hold them)
#   MUSIC_HTTPS_PORT  HTTPS                                        [8443]
#   MUSIC_PUBLIC_URL  the address clients reach the service at (scheme, host,
#                     port, path; no query): share links are built on it, never
#                     on a request's Host (music-fcgi --public-url)
#                     [https://localhost:$MUSIC_HTTPS_PORT, no port when 443]
#   MUSIC_WORKERS     worker processes, one socket each            [2]
#   MUSIC_THREADS     threads per worker                           [64]
#   MUSIC_KEPT_ALIVE  park or bind: how the workers keep nginx's idle connections
#                     (bind: a thread each, libfcgi's way), and so how many nginx
#                     keeps (UPSTREAM_KEEPALIVE below)               [park]
#   MUSIC_METRICS     on or off: the workers collect metrics and serve them on
#                     $MUSIC_RUN_DIR/metrics/worker-N.sock (off: no-op handlers and
#                     no metrics socket; deploy/bench compares the two)     [on]
#   MUSIC_BUILD       release or debug                             [release]
#   MUSIC_DB          the SQLite file                              [$MUSIC_VAR_DIR/music.sqlite]
#                     (by default a link into the service folder, below)
#   MUSIC_SERVICE_USER  the unprivileged system user the workers run as; created
#                     when missing (no login shell, no home); it owns the SQLite
#                     database and its folder, and nothing else   [music]
#   MUSIC_DATABASE_URL  a PostgreSQL URL (postgres://...): the workers and
#                     music-admin use PostgreSQL instead of the SQLite file  [unset]
#   MUSIC_UPSTREAMS   nginx upstream servers instead of the local worker
#                     sockets (several worker hosts; README "Scaling out")   [unset]
#   MUSIC_RATE_LIMIT  requests per second per API key (or per address without one) [100]
#   MUSIC_RATE_BURST  requests above the rate served at once before 429s   [200]
#   MUSIC_SHARE_RATE_LIMIT, MUSIC_SHARE_RATE_BURST  the same per client address
#                     for shared views (no key)                       [20, 40]
#   MUSIC_ADDRESS_RATE_LIMIT, MUSIC_ADDRESS_RATE_BURST  the same per client address
#                     for every request, with a key or not            [500, 1000]
#   MUSIC_ADDRESS_CONNECTIONS  requests in progress per client address (each
#                     HTTP/2 stream counts); beyond it the 429 envelope  [512]
#   MUSIC_SHARE_CONNECTIONS  shared views in progress per client address (a
#                     shared view can be megabytes, spooled to disk by nginx) [32]
#   MUSIC_CLIENT_TIMEOUT  seconds a client may take to send a request's headers,
#                     or pause while sending the body or reading the answer,
#                     before nginx closes the connection               [10]
#   MUSIC_KEEPALIVE_TIMEOUT  seconds an idle client connection is kept   [20]
#   MUSIC_TLS_CERT, MUSIC_TLS_KEY  a certificate to use instead of a self-signed one
#   MUSIC_METRICS_LISTEN  nginx's internal listener (ADDRESS:PORT): each worker's
#                     metrics and nginx's stub_status for Prometheus and
#                     deploy/status, never on the public ports; "off": none [127.0.0.1:9180]
#   MUSIC_METRICS_ALLOW  addresses or CIDRs (spaces or commas between) that may
#                     use it besides loopback; everyone else gets the 404 envelope [empty]
#   MUSIC_METRICS_UPSTREAMS  with MUSIC_UPSTREAMS: the metrics addresses
#                     (HOST:PORT, spaces or commas between) of the remote workers,
#                     each started with --metrics-listen HOST:PORT; worker N is the
#                     N-th (from 1)                                  [unset]

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAR=${MUSIC_VAR_DIR:-$ROOT/var}
mkdir -p "$VAR"
VAR=$(cd "$VAR" && pwd)
INSTANCE=$(printf '%s' "$VAR" | md5sum | cut -c1-10)
RUN_DIR=${MUSIC_RUN_DIR:-/run/music-collections-$INSTANCE}
HTTP_PORT=${MUSIC_HTTP_PORT:-8080}
HTTPS_PORT=${MUSIC_HTTPS_PORT:-8443}
# The stack's HTTPS address, the public URL's default: music-fcgi's own default
# (PublicURL.defaultValue) is this for port 443 (Tests/Docs checks).
default_public_url() { if [ "$1" = 443 ]; then echo "https://localhost"; else echo "https://localhost:$1"; fi; }
PUBLIC_URL=${MUSIC_PUBLIC_URL:-$(default_public_url "$HTTPS_PORT")}
# As music-fcgi reads it (PublicURL.validated): no trailing slash, so the
# addresses deploy/up prints and the demo link's state compare with its links.
while [ "${PUBLIC_URL%/}" != "$PUBLIC_URL" ]; do PUBLIC_URL=${PUBLIC_URL%/}; done
WORKERS=${MUSIC_WORKERS:-2}
THREADS=${MUSIC_THREADS:-64}
METRICS=${MUSIC_METRICS:-on}
case "$METRICS" in on|off) ;; *) printf 'error: MUSIC_METRICS must be on or off, not %s\n' "$METRICS" >&2; exit 1 ;; esac
BUILD=${MUSIC_BUILD:-release}
RATE=${MUSIC_RATE_LIMIT:-100}
BURST=${MUSIC_RATE_BURST:-200}
SHARE_RATE=${MUSIC_SHARE_RATE_LIMIT:-20}
SHARE_BURST=${MUSIC_SHARE_RATE_BURST:-40}
ADDRESS_RATE=${MUSIC_ADDRESS_RATE_LIMIT:-500}
ADDRESS_BURST=${MUSIC_ADDRESS_RATE_BURST:-1000}
ADDRESS_CONNECTIONS=${MUSIC_ADDRESS_CONNECTIONS:-512}
SHARE_CONNECTIONS=${MUSIC_SHARE_CONNECTIONS:-32}
CLIENT_TIMEOUT=${MUSIC_CLIENT_TIMEOUT:-10}
KEEPALIVE_TIMEOUT=${MUSIC_KEEPALIVE_TIMEOUT:-20}
METRICS_LISTEN=${MUSIC_METRICS_LISTEN:-127.0.0.1:9180}
METRICS_ALLOW=${MUSIC_METRICS_ALLOW:-}
METRICS_UPSTREAMS=${MUSIC_METRICS_UPSTREAMS:-}
# nginx's worker processes (worker_processes): each keeps its own idle upstream
# connections (UPSTREAM_KEEPALIVE, below). The Debian package's site runs under
# Debian's own nginx.conf, whose worker_processes applies there.
NGINX_WORKER_PROCESSES=2
# Descriptors per nginx worker: 65536, or the hard limit nginx starts under when
# lower (raising it beyond fails and logs an alert on every start).
NGINX_NOFILE=$(ulimit -Hn)
[ "$NGINX_NOFILE" = unlimited ] || [ "$NGINX_NOFILE" -gt 65536 ] && NGINX_NOFILE=65536
DB=${MUSIC_DB:-$VAR/music.sqlite}
NGINX_USER=www-data
# State of local stacks that their user or nginx cannot keep in a var folder they
# cannot reach (a checkout under /root): one folder per stack. Not the installed
# package's /var/lib/music-collections.
STACKS_STATE=/var/lib/music-collections-stacks
# The same name as User= in deploy/systemd (Tests/EndToEnd/test_systemd_units.py checks).
SERVICE_USER=${MUSIC_SERVICE_USER:-music}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs the Debian packages the stack needs, when missing (apt-get update once).
ensure_packages() {
    local wanted=(libfcgi-dev libfcgi-bin spawn-fcgi nginx openssl curl libsqlite3-dev libpq-dev ca-certificates acl "$@")
    local missing=()
    for package in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        [ "$(id -u)" = 0 ] || die "run as root to install ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        # A fresh package must not start the distribution's own service (nginx,
        # etcd, Patroni, Prometheus): deny service starts during the install, unless
        # the machine already has a policy.
        local own_policy=false
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
            own_policy=true
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        if $own_policy; then rm -f /usr/sbin/policy-rc.d; fi
    fi
}

# Builds the executables; sets BIN to the folder holding them.
build() {
    say "building ($BUILD)"
    (cd "$ROOT" && swift build -c "$BUILD" --product music-fcgi >&2 && swift build -c "$BUILD" --product music-admin >&2)
    BIN=$(cd "$ROOT" && swift build -c "$BUILD" --show-bin-path)
}

prepare_dirs() {
    mkdir -p "$VAR/log" "$VAR/run" "$VAR/nginx" "$VAR/tls"
    # The socket folder: root and nginx's group only (nothing else may reach the socket).
    install -d -m 0750 -o root -g "$NGINX_USER" "$RUN_DIR"
}

# Connections a worker's socket holds waiting for a thread (spawn-fcgi -b; the
# systemd socket unit's Backlog= says the same, Tests/Docs checks it): above
# nginx's upstream connections at the overload the benchmark sends (2,048), so
# nginx is never refused (EAGAIN, a 502); Linux caps it at net.core.somaxconn.
WORKER_BACKLOG=4096
# Descriptors a worker may hold (its soft limit under deploy/up, up to the hard
# limit it starts under; the systemd unit's LimitNOFILE= says the same, Tests/Docs
# checks it): every connection nginx has open to it, in flight or parked idle
# (below), its backlog and its database files.
WORKER_NOFILE=65536
# Idle kept-alive connections each nginx worker process keeps to the workers
# (upstream keepalive; reads, writes and health apart). A worker parks an idle
# connection (KeptAliveConnections.park): it holds a descriptor, no thread. With fewer than
# the upstream connections in flight under load, nginx closes the surplus after
# each burst of answers and opens new ones for the next requests: at 2,048 client
# connections and 16, nearly half of the requests came on a new connection (an
# accept, an epoll registration and a close each), and the workers spent twice
# the CPU per request (docs/performance.md, "Overload"). Health (music_health, each
# worker's health lane, which parks its connections too) needs few: a probe at a
# time, or a benchmark's 32 connections over the nginx processes; one connection
# per probe had halved its rate (docs/performance.md, "Health lane"). With
# MUSIC_KEPT_ALIVE=bind each idle one holds a worker thread (the lane's backups
# and MUSIC_UPSTREAMS are request sockets), so (16 + 8 + 2) x NGINX_WORKER_PROCESSES
# stays below --threads.
if [ "${MUSIC_KEPT_ALIVE:-park}" = bind ]; then
    UPSTREAM_KEEPALIVE=16 WRITER_KEEPALIVE=8 HEALTH_KEEPALIVE=2
else
    UPSTREAM_KEEPALIVE=1024 WRITER_KEEPALIVE=1024 HEALTH_KEEPALIVE=64
fi

worker_socket() { printf '%s/worker-%s.sock' "$RUN_DIR" "$1"; }
# The socket worker N creates and serves its metrics on (Prometheus text), reached
# by nginx's internal metrics listener.
worker_metrics_socket() { printf '%s/metrics/worker-%s.sock' "$RUN_DIR" "$1"; }
# The socket worker N answers GET /v1/music/health on with threads of its own
# (music-fcgi --health-socket), in the same folder as the metrics sockets (the
# folder the workers create their sockets in), reached by nginx's music_health.
worker_health_socket() { printf '%s/metrics/health-%s.sock' "$RUN_DIR" "$1"; }
# off: health goes to the request sockets (music_workers, as any read), behind the
# queued requests (deploy/bench's C floor, which has no health socket, sets it after
# sourcing this file).
HEALTH_LANE=on

# The folder of the metrics sockets. Unlike the request sockets, which spawn-fcgi
# creates as root, the workers create these themselves: the folder is the service
# user's, group nginx's user, setgid (a socket gets nginx's group; at mode 0660
# only the workers and nginx can connect). The service user also needs to pass
# through $RUN_DIR (root:nginx 0750): an ACL entry lets it search that folder and
# nothing more (no listing; others still get nothing). Needs ensure_service_user.
prepare_metrics_dir() {
    setfacl -m "u:$SERVICE_USER:x" "$RUN_DIR"
    install -d -m 2750 -o "$SERVICE_USER" -g "$NGINX_USER" "$RUN_DIR/metrics"
}

# The workers behind nginx's internal listener, one "N ADDRESS" line each
# (ADDRESS as fastcgi_pass takes it): N is the worker's number, as in
# worker_socket N (from 1). The local workers' metrics sockets; with
# MUSIC_METRICS_UPSTREAMS, its addresses in order; with MUSIC_UPSTREAMS alone,
# none (the remote workers' metrics addresses are unknown). render_nginx and
# deploy/render-prometheus both read this list.
metrics_workers() {
    local index=0 address
    if [ -n "$METRICS_UPSTREAMS" ]; then
        for address in ${METRICS_UPSTREAMS//,/ }; do
            [[ $address =~ ^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]+$ ]] \
                || die "MUSIC_METRICS_UPSTREAMS: '$address' is not HOST:PORT"
            index=$((index + 1))
            printf '%s %s\n' "$index" "$address"
        done
    elif [ -z "${MUSIC_UPSTREAMS:-}" ]; then
        for index in $(seq 1 "$WORKERS"); do
            printf '%s unix:%s\n' "$index" "$(worker_metrics_socket "$index")"
        done
    fi
}

# The nginx configuration of the internal listener's allow list and workers
# (music-internal.conf): sets METRICS_GEO and METRICS_LOCATIONS, one line each.
metrics_nginx_lines() {
    local entry index address workers
    METRICS_GEO="" METRICS_LOCATIONS=""
    [ "$METRICS_LISTEN" = off ] || [[ $METRICS_LISTEN =~ ^(([0-9.]+|\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?[0-9]+$ ]] \
        || die "MUSIC_METRICS_LISTEN: '$METRICS_LISTEN' is not ADDRESS:PORT, PORT or off"
    for entry in ${METRICS_ALLOW//,/ }; do
        [[ $entry =~ ^[0-9A-Fa-f.:]+(/[0-9]{1,3})?$ ]] || die "MUSIC_METRICS_ALLOW: '$entry' is not an address or CIDR"
        METRICS_GEO+="$entry 1;\\n    "
    done
    METRICS_GEO=${METRICS_GEO%"\\n    "}
    workers=$(metrics_workers)
    while read -r index address; do
        [ -n "$index" ] || continue
        METRICS_LOCATIONS+="location = /internal/metrics/worker-$index { if (\$music_internal_refused) { return 404; } fastcgi_pass $address; }\\n    "
    done <<< "$workers"
    METRICS_LOCATIONS=${METRICS_LOCATIONS%"\\n    "}
    [ "$METRICS_LISTEN" = off ] || [ -n "$METRICS_LOCATIONS" ] \
        || say "warning: MUSIC_UPSTREAMS without MUSIC_METRICS_UPSTREAMS: the internal listener reaches no worker's metrics"
}

# nginx's temp files, above all the answers it takes off the workers for slow
# readers: on disk, not in $RUN_DIR (tmpfs on most hosts: RAM). $VAR/nginx-temp
# when nginx's user can reach $VAR, else under /var/lib (as the service folder
# below). render_nginx creates it; nginx creates the folders inside.
nginx_temp_dir() { stack_state_dir "$NGINX_USER" nginx-temp; }

# The folder nginx serves the files of nginx/static/ from (the shared page's
# stylesheet): a copy render_nginx makes where nginx's user can read it, as the
# temp folder above (a checkout under /root is closed to it).
nginx_static_dir() { stack_state_dir "$NGINX_USER" nginx-static; }

# stack_state_dir USER NAME: $VAR/NAME when USER can reach $VAR, else
# $STACKS_STATE/<instance>/NAME (a checkout under /root is closed to other users).
stack_state_dir() {
    if runuser -u "$1" -- test -x "$VAR" 2>/dev/null; then
        printf '%s/%s' "$VAR" "$2"
    else
        printf '%s/%s/%s' "$STACKS_STATE" "$INSTANCE" "$2"
    fi
}

# A self-signed certificate for localhost, unless MUSIC_TLS_CERT/MUSIC_TLS_KEY name one.
ensure_tls() {
    if [ -n "${MUSIC_TLS_CERT:-}" ]; then
        TLS_CERT=$MUSIC_TLS_CERT
        TLS_KEY=${MUSIC_TLS_KEY:?MUSIC_TLS_KEY must be set with MUSIC_TLS_CERT}
        return
    fi
    TLS_CERT=$VAR/tls/cert.pem
    TLS_KEY=$VAR/tls/key.pem
    if [ ! -s "$TLS_CERT" ] || [ ! -s "$TLS_KEY" ]; then
        say "generating a self-signed TLS certificate for localhost"
        (umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=localhost" \
            -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -keyout "$TLS_KEY" -out "$TLS_CERT" 2>/dev/null)
    fi
}

# Renders nginx/ into FOLDER (default var/nginx): nginx.conf.template becomes
# nginx.conf, the included files are rendered beside it.
render_nginx() {
    local output=${1:-$VAR/nginx} upstreams=${MUSIC_UPSTREAMS:-} writers=${MUSIC_UPSTREAMS:-} health=${MUSIC_UPSTREAMS:-} index file name temp static
    mkdir -p "$output"
    # NGINX_TEMP_DIR: a caller's own folder instead (deploy/package renders files only).
    temp=${NGINX_TEMP_DIR:-$(nginx_temp_dir)}
    mkdir -p "$(dirname "$temp")"
    install -d -m 0700 -o "$NGINX_USER" -g "$NGINX_USER" "$temp"
    # NGINX_STATIC_DIR: where the caller installs nginx/static/ itself (deploy/package).
    static=${NGINX_STATIC_DIR:-}
    if [ -z "$static" ]; then
        static=$(nginx_static_dir)
        mkdir -p "$(dirname "$static")"
        install -d -m 0755 "$static"
        install -m 0644 "$ROOT"/nginx/static/* "$static/"
    fi
    # MUSIC_UPSTREAMS replaces the local sockets with other servers, e.g.
    # "server 10.0.0.11:9000 max_fails=1 fail_timeout=5s;server 10.0.0.12:9000 ...;"
    [ -n "$upstreams" ] || for index in $(seq 1 "$WORKERS"); do
        # max_fails=0: a dead worker is never marked down for fail_timeout; a
        # failed connect costs one retry on the other worker, and the restarted
        # worker is used again at once.
        upstreams+="server unix:$(worker_socket "$index") max_fails=0;"
        # Writes: the first worker, the others only when it refuses (nginx.conf).
        writers+="server unix:$(worker_socket "$index")$([ "$index" = 1 ] || echo ' backup') max_fails=0;"
    done
    # Health: each worker's health socket, and its request socket as a backup
    # (HEALTH_LANE=off: the request sockets alone).
    [ -n "${MUSIC_UPSTREAMS:-}" ] || for index in $(seq 1 "$WORKERS"); do
        # max_fails=1: nginx turns to the backups only once every health socket is
        # marked failed; with max_fails=0 none ever is, and an executable older than
        # the lane (mid-upgrade) left health at 502 (deploy/package-test). The health
        # location tries every server in one request (music-server.conf), so a missing
        # health socket costs no 502; fail_timeout=2s: a socket missing for a moment
        # (its worker restarting when a probe came) is back in use 2 s later, not 30.
        [ "$HEALTH_LANE" = off ] || health+="server unix:$(worker_health_socket "$index") max_fails=1 fail_timeout=2s;"
        health+="server unix:$(worker_socket "$index")$([ "$HEALTH_LANE" = off ] || echo ' backup') max_fails=0;"
    done
    metrics_nginx_lines
    for file in "$ROOT"/nginx/*; do
        [ -f "$file" ] || continue
        name=$(basename "$file" .template)
        if [ "$name" = music-internal.conf ] && [ "$METRICS_LISTEN" = off ]; then
            printf '# MUSIC_METRICS_LISTEN=off: no internal listener.\n' > "$output/$name"
            continue
        fi
        sed -e "s|@VAR@|$VAR|g" -e "s|@NGINX@|$output|g" \
            -e "s|@HTTP_PORT@|$HTTP_PORT|g" -e "s|@HTTPS_PORT@|$HTTPS_PORT|g" \
            -e "s|@UPSTREAMS@|$upstreams|g" -e "s|@WRITE_UPSTREAMS@|$writers|g" -e "s|@HEALTH_UPSTREAMS@|$health|g" -e "s|@WRITERS@|$([ -n "${MUSIC_UPSTREAMS:-}" ] && echo music_workers || echo music_writers)|g" -e "s|@TLS_CERT@|$TLS_CERT|g" -e "s|@TLS_KEY@|$TLS_KEY|g" \
            -e "s|@RATE@|$RATE|g" -e "s|@BURST@|$BURST|g" \
            -e "s|@SHARE_RATE@|$SHARE_RATE|g" -e "s|@SHARE_BURST@|$SHARE_BURST|g" \
            -e "s|@ADDRESS_RATE@|$ADDRESS_RATE|g" -e "s|@ADDRESS_BURST@|$ADDRESS_BURST|g" \
            -e "s|@ADDRESS_CONNECTIONS@|$ADDRESS_CONNECTIONS|g" -e "s|@SHARE_CONNECTIONS@|$SHARE_CONNECTIONS|g" \
            -e "s|@NGINX_TEMP@|$temp|g" -e "s|@STATIC@|$static|g" \
            -e "s|@STYLESHEET_SHA256@|$(sha256sum "$ROOT/nginx/static/shared-page.css" | cut -d' ' -f1)|g" \
            -e "s|@CLIENT_TIMEOUT@|$CLIENT_TIMEOUT|g" -e "s|@KEEPALIVE_TIMEOUT@|$KEEPALIVE_TIMEOUT|g" \
            -e "s|@NOFILE@|$NGINX_NOFILE|g" -e "s|@NGINX_WORKER_PROCESSES@|$NGINX_WORKER_PROCESSES|g" \
            -e "s|@UPSTREAM_KEEPALIVE@|$UPSTREAM_KEEPALIVE|g" -e "s|@WRITER_KEEPALIVE@|$WRITER_KEEPALIVE|g" \
            -e "s|@HEALTH_KEEPALIVE@|$HEALTH_KEEPALIVE|g" \
            -e "s|@HEALTH@|$([ "$HEALTH_LANE" = off ] && echo music_workers || echo music_health)|g" \
            -e "s|@METRICS_LISTEN@|$METRICS_LISTEN|g" -e "s|@METRICS_GEO@|$METRICS_GEO|g" \
            -e "s|@METRICS_LOCATIONS@|$METRICS_LOCATIONS|g" \
            "$file" > "$output/$name"
    done
}

# --- The service user and its folder ---
# Workers run as $SERVICE_USER. It owns one folder, the service folder: the
# SQLite database with its -wal and -shm (SQLite creates those beside the
# database, so the folder must be writable), and copies of what it cannot reach
# in a checkout closed to other users (under /root): the worker executable and
# openapi.yaml. Nothing else of $VAR (TLS key, logs, nginx files) is its.

ensure_service_user() {
    id -u "$SERVICE_USER" >/dev/null 2>&1 && return 0
    say "creating the system user $SERVICE_USER (no login shell, no home)"
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$SERVICE_USER"
}

# $VAR/service when the service user can reach $VAR, else under /var/lib (as for
# PostgreSQL's data above), linked from $VAR/service.
service_dir() { stack_state_dir "$SERVICE_USER" service; }

# Removes the service folder of a throw-away stack (VAR given) kept under /var/lib.
remove_service_state() {
    local instance
    instance=$(printf '%s' "$1" | md5sum | cut -c1-10)
    rm -rf "$STACKS_STATE/$instance/service" "$STACKS_STATE/$instance/nginx-temp" "$STACKS_STATE/$instance/nginx-static"
    rmdir "$STACKS_STATE/$instance" 2>/dev/null || true
}

# Creates the service user and folder, and sets WORKER_BIN, WORKER_DB and
# WORKER_OPENAPI: the paths the workers are given. With the default MUSIC_DB,
# $VAR/music.sqlite becomes a link to the database in the service folder (a
# database file left there by an older stack is moved in first; the stack must
# be stopped). Call before music-admin touches the database, then own_database.
prepare_service_state() {
    local folder suffix
    ensure_service_user
    prepare_metrics_dir
    folder=$(service_dir)
    mkdir -p "$(dirname "$folder")"
    install -d -m 0700 -o "$SERVICE_USER" -g "$SERVICE_USER" "$folder"
    [ "$folder" = "$VAR/service" ] || ln -sfn "$folder" "$VAR/service"
    if [ -z "${MUSIC_DB:-}" ]; then
        if [ -f "$VAR/music.sqlite" ] && [ ! -L "$VAR/music.sqlite" ]; then
            say "moving the database into the service folder $folder"
            for suffix in "" -wal -shm; do
                [ ! -e "$VAR/music.sqlite$suffix" ] || mv "$VAR/music.sqlite$suffix" "$folder/music.sqlite$suffix"
            done
        fi
        ln -sfn service/music.sqlite "$VAR/music.sqlite"
        WORKER_DB=$folder/music.sqlite
    else
        WORKER_DB=$DB
        runuser -u "$SERVICE_USER" -- test -w "$(dirname "$DB")" \
            || die "MUSIC_DB: the folder $(dirname "$DB") must be writable by $SERVICE_USER (SQLite creates -wal and -shm there)"
    fi
    install -m 0644 "$ROOT/openapi.yaml" "$folder/openapi.yaml"
    WORKER_OPENAPI=$folder/openapi.yaml
    WORKER_BIN=$BIN
    if ! runuser -u "$SERVICE_USER" -- test -x "$BIN/music-fcgi" 2>/dev/null; then
        install -d -m 0755 "$folder/bin"
        cmp -s "$BIN/music-fcgi" "$folder/bin/music-fcgi" || install -m 0755 "$BIN/music-fcgi" "$folder/bin/music-fcgi"
        WORKER_BIN=$folder/bin
    fi
}

# Hands the database music-admin (root) created to the service user, not
# readable by others. Later runs of music-admin as root keep that owner: SQLite,
# run by root, gives the -wal and -shm it creates the database file's owner.
own_database() {
    local file
    for file in "$WORKER_DB" "$WORKER_DB-wal" "$WORKER_DB-shm"; do
        [ ! -e "$file" ] || { chown "$SERVICE_USER:$SERVICE_USER" "$file" && chmod 0600 "$file"; }
    done
}

# Starts worker N under a small supervisor that restarts it when it dies.
# spawn-fcgi creates the socket (0660, owned by www-data), drops to the service
# user (-u/-g) and execs the worker in place (-n), so the pid written is the
# worker's own. The worker creates its metrics socket, $(worker_metrics_socket N),
# and its health socket, $(worker_health_socket N), itself. Needs prepare_service_state first.
start_worker() {
    local index=$1 socket hard needed
    socket=$(worker_socket "$index")
    rm -f "$VAR/run/stopping"
    # What a worker may need: nginx's idle connections to it (each nginx process:
    # reads, writes and its health lane), as many in flight (its backlog) and room
    # for its own files.
    hard=$(ulimit -Hn)
    needed=$((NGINX_WORKER_PROCESSES * (UPSTREAM_KEEPALIVE + WRITER_KEEPALIVE + HEALTH_KEEPALIVE) + WORKER_BACKLOG + 1024))
    if [ "$index" = 1 ] && [ "$hard" != unlimited ] && [ "$hard" -lt "$needed" ]; then
        say "warning: the workers may open $hard descriptors (ulimit -Hn), fewer than the $needed they may need under load: accept would then fail"
    fi
    setsid bash -c '
        trap "exit 0" TERM
        hard=$(ulimit -Hn)
        if [ "$hard" = unlimited ] || [ "$hard" -gt "${14}" ]; then ulimit -Sn "${14}"; else ulimit -Sn "$hard"; fi
        while [ ! -e "$0/run/stopping" ]; do
            spawn-fcgi -n -s "$1" -b "${11}" -M 0660 -U "$2" -G "$2" -u "$8" -g "$8" -- "$3/music-fcgi" --db "$4" --threads "$5" --openapi "$7" \
                --metrics "${10}" --metrics-socket "$9" --public-url "${12}" --health-socket "${13}" >> "$0/log/worker-$6.log" 2>&1 &
            echo $! > "$0/run/worker-$6.pid"
            wait $! || true
            [ -e "$0/run/stopping" ] && break
            # One JSON line, as the worker writes its own.
            printf "{\"time\":\"%s\",\"level\":\"error\",\"logger\":\"deploy.supervisor\",\"message\":\"worker exited; restarting\",\"worker\":%s}\n" \
                "$(date -u +%FT%T.%3NZ)" "$6" >> "$0/log/worker-$6.log"
            sleep 0.5
        done
    ' "$VAR" "$socket" "$NGINX_USER" "$WORKER_BIN" "$WORKER_DB" "$THREADS" "$index" "$WORKER_OPENAPI" "$SERVICE_USER" \
        "$(worker_metrics_socket "$index")" "$METRICS" "$WORKER_BACKLOG" "$PUBLIC_URL" "$([ "$HEALTH_LANE" = off ] || worker_health_socket "$index")" \
        "$WORKER_NOFILE" </dev/null >/dev/null 2>&1 &
    echo $! > "$VAR/run/supervisor-$index.pid"
}

start_nginx() {
    TZ=UTC nginx -e "$VAR/log/nginx-error.log" -c "$VAR/nginx/nginx.conf" -t -q
    TZ=UTC nginx -e "$VAR/log/nginx-error.log" -c "$VAR/nginx/nginx.conf"
}

# Waits until the health endpoint answers 200 through nginx.
wait_healthy() {
    local deadline=$((SECONDS + ${1:-30}))
    until curl -skf -o /dev/null "https://127.0.0.1:$HTTPS_PORT/v1/music/health"; do
        [ $SECONDS -lt $deadline ] || die "the stack did not become healthy; see $VAR/log/"
        sleep 0.2
    done
}

# Sends SIGTERM to the pid in FILE and waits for it to end (SIGKILL after a timeout).
stop_pid_file() {
    local file=$1 signal=${2:-TERM} pid
    [ -s "$file" ] || return 0
    pid=$(cat "$file")
    if kill -0 "$pid" 2>/dev/null; then
        kill -"$signal" "$pid" 2>/dev/null || true
        for _ in $(seq 1 70); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

stop_stack() {
    touch "$VAR/run/stopping"
    local file
    for file in "$VAR"/run/supervisor-*.pid; do [ -e "$file" ] && stop_pid_file "$file"; done
    for file in "$VAR"/run/worker-*.pid; do [ -e "$file" ] && stop_pid_file "$file"; done
    stop_pid_file "$VAR/run/nginx.pid" QUIT
    rm -f "$RUN_DIR"/worker-*.sock "$RUN_DIR"/metrics/worker-*.sock "$RUN_DIR"/metrics/health-*.sock
}

# --- A private PostgreSQL server (tests, cluster test, bench --store postgres) ---
# Runs as the postgres user (the server refuses root), listens on a unix socket
# only, in a folder only root, postgres and the service user's group (the
# workers) can reach. Data lives in
# $VAR/postgres-NAME when postgres can reach $VAR, else under /var/lib (a
# checkout under /root is closed to other users), linked from $VAR.
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# Runs a command as postgres, inside the network namespace $PG_NETNS when set
# (deploy/cluster-test's database host).
as_postgres() {
    if [ -n "${PG_NETNS:-}" ]; then
        ip netns exec "$PG_NETNS" runuser -u postgres -- "$@"
    else
        runuser -u postgres -- "$@"
    fi
}

pg_data_dir() { stack_state_dir postgres "postgres-$1"; }

pg_socket_dir() { printf '/run/music-postgres-%s-%s' "$INSTANCE" "$1"; }

# The libpq URL of the private server NAME, as the postgres superuser.
pg_url() { printf 'postgresql:///%s?host=%s&user=postgres' "${2:-postgres}" "$(pg_socket_dir "$1")"; }

# Starts (initialising on first use) the private server NAME; extra server
# settings may follow as further arguments (-c name=value ...).
start_postgres() {
    local name=$1; shift
    local bin data socket
    bin=$(pg_bin)
    [ -n "$bin" ] || die "PostgreSQL is not installed (apt-get install postgresql)"
    data=$(pg_data_dir "$name")
    socket=$(pg_socket_dir "$name")
    ensure_service_user
    install -d -m 0750 -o postgres -g "$SERVICE_USER" "$socket"
    if [ ! -s "$data/PG_VERSION" ]; then
        mkdir -p "$(dirname "$data")"
        install -d -m 0700 -o postgres -g postgres "$data"
        runuser -u postgres -- "$bin/initdb" -D "$data" --auth=trust --username=postgres \
            --encoding=UTF8 --locale=C.UTF-8 >/dev/null
        [ "$data" = "$VAR/postgres-$name" ] || ln -sfn "$data" "$VAR/postgres-$name"
    fi
    stop_postgres "$name"
    as_postgres "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start \
        -o "-c listen_addresses='' -k $socket -c max_connections=400 -c fsync=on -c synchronous_commit=on $*" >/dev/null \
        || { tail -20 "$data/server.log" >&2; die "PostgreSQL ($name) did not start"; }
}

stop_postgres() {
    local name=$1 data
    data=$(pg_data_dir "$name")
    [ -s "$data/postmaster.pid" ] || return 0
    as_postgres "$(pg_bin)/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}
