# The network-namespace test bed shared by deploy/cluster-test and deploy/ha-test.
# Source it after deploy/lib.sh; do not run it. The caller sets:
#   NS_LAN              the namespace holding the bridge (no address of its own)
#   ADDRESS[host]       each host's IPv4 address (a /24), NAMESPACE[host] its namespace;
#                       the hosts edge, app1 and app2 at least
#   BIN                 the folder of music-fcgi and music-admin (build)
# and after bed_seed, ORG, USER_ID, KEY and $VAR/track-ids.

# bed_network HOST...: the bridge namespace and one namespace per host, linked to
# the bridge by a veth pair: to-HOST in the bridge namespace (taken down to cut
# the host off), eth0 with the host's address in the host's.
bed_network() {
    local host ns
    ip netns add "$NS_LAN"
    ip -n "$NS_LAN" link add br0 type bridge
    ip -n "$NS_LAN" link set br0 up
    for host in "$@"; do
        ns=${NAMESPACE[$host]}
        ip netns add "$ns"
        ip -n "$NS_LAN" link add "to-$host" type veth peer name eth0 netns "$ns"
        ip -n "$NS_LAN" link set "to-$host" master br0 up
        ip -n "$ns" addr add "${ADDRESS[$host]}/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" link set lo up
    done
}

# bed_static_neighbours HOST...: each host knows the others' MAC addresses for good
# (permanent neighbour entries), so a host whose link is down is silent, as across
# a router or a firewall: packets to it vanish, connects time out. (With ARP, a
# connect to it fails fast with "no route to host" once ARP gives up.)
bed_static_neighbours() {
    local host other mac
    for other in "$@"; do
        mac=$(ip -n "${NAMESPACE[$other]}" -o link show eth0 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)
        for host in "$@"; do
            [ "$host" = "$other" ] && continue
            ip -n "${NAMESPACE[$host]}" neigh replace "${ADDRESS[$other]}" lladdr "$mac" nud permanent dev eth0
        done
    done
}

# Deletes the host namespaces and the bridge's (those that exist).
bed_delete_network() {
    local ns
    for ns in "${NAMESPACE[@]}" "$NS_LAN"; do ip netns delete "$ns" 2>/dev/null || true; done
}

# bed_seed DATABASE_URL: through music-admin on app1, the schema, an organization,
# a user with a key and 60 tracks. Sets ORG, USER_ID and KEY; the track ids go to
# $VAR/track-ids, read back with the caller's `sql QUERY` (one row a line).
bed_seed() {
    local url=$1
    # The URL (with its password) through the environment, not a command line.
    bed_admin() { MUSIC_DATABASE_URL=$url ip netns exec "${NAMESPACE[app1]}" "$BIN/music-admin" "$@" --json; }
    bed_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
    bed_admin migrate >/dev/null
    ORG=$(bed_admin org create --name "Test bed" | bed_field id)
    USER_ID=$(bed_admin user create --org "$ORG" --email testbed@test.invalid --capability USE_MUSIC_GENERATION | bed_field id)
    KEY=$(bed_admin key create --user "$USER_ID" | bed_field key)
    for i in $(seq 1 60); do printf '{"title": "Test bed %s"}\n' "$i"; done > "$VAR/tracks.jsonl"
    bed_admin track import --org "$ORG" --owner "$USER_ID" "$VAR/tracks.jsonl" >/dev/null
    sql "SELECT id FROM tracks WHERE organization_id = '$ORG'" > "$VAR/track-ids"
    [ "$(grep -c . "$VAR/track-ids")" = 60 ] || die "the seeded tracks are not all there"
}

# bed_start_app HOST DATABASE_URL: music-fcgi on the host's address, FastCGI over
# TCP on :9000 and metrics on :9100; its pid in $VAR/run/app-HOST.pid.
bed_start_app() {
    local host=$1 url=$2
    # FastCGI over TCP: the worker serves connections from the edge's address only
    # (without FCGI_WEB_SERVER_ADDRS or --allow-any-peer it refuses to start).
    # (In a subshell: a kill to come is not reported as a job of the script. The URL,
    # with its password, through the environment: a command line is visible to all.)
    (MUSIC_DATABASE_URL=$url FCGI_WEB_SERVER_ADDRS=${ADDRESS[edge]} ip netns exec "${NAMESPACE[$host]}" \
        "$BIN/music-fcgi" --listen "${ADDRESS[$host]}:9000" --metrics-listen "${ADDRESS[$host]}:9100" \
        --threads 32 --database-connections 8 \
        --openapi "$ROOT/openapi.yaml" </dev/null >> "$VAR/log/$host.log" 2>&1 &
     echo $! > "$VAR/run/app-$host.pid")
}

# bed_pid_is PID TEXT: PID is a live process whose command line holds TEXT (a pid
# file may outlive its process, and the pid be reused by another's).
bed_pid_is() {
    [ -n "$1" ] && { tr '\0' ' ' < "/proc/$1/cmdline"; } 2>/dev/null | grep -qF -- "$2"
}

# bed_stop_pid_file FILE TEXT [SIGNAL]: stop_pid_file when the process is still the
# one started (its command line holds TEXT); else only the file goes.
bed_stop_pid_file() {
    [ -s "$1" ] || return 0
    if bed_pid_is "$(cat "$1")" "$2"; then stop_pid_file "$1" "${3:-TERM}"; else rm -f "$1"; fi
}

# Stops what bed_start_app and bed_start_edge started (by their pid files); never fails.
bed_stop_apps_and_edge() {
    local host
    for host in app1 app2; do
        bed_stop_pid_file "$VAR/run/app-$host.pid" "--listen ${ADDRESS[$host]}:9000" || true
    done
    bed_stop_pid_file "$VAR/run/nginx.pid" "$VAR/nginx/nginx.conf" QUIT || true
}

# nginx on the edge with an upstream of app1 and app2 and their metrics on its
# internal listener (127.0.0.1:9180 in the edge's namespace); waits until health
# answers through it.
bed_start_edge() {
    ensure_tls
    # A host that fails is skipped for 3 s; connects give up after fastcgi_connect_timeout (2 s).
    export MUSIC_UPSTREAMS="server ${ADDRESS[app1]}:9000 max_fails=1 fail_timeout=3s;server ${ADDRESS[app2]}:9000 max_fails=1 fail_timeout=3s;"
    export MUSIC_METRICS_UPSTREAMS="${ADDRESS[app1]}:9100 ${ADDRESS[app2]}:9100" MUSIC_METRICS_LISTEN=127.0.0.1:9180
    source "$ROOT/deploy/lib.sh"
    render_nginx
    ip netns exec "${NAMESPACE[edge]}" env TZ=UTC nginx -e "$VAR/log/nginx-error.log" -c "$VAR/nginx/nginx.conf"
    for _ in $(seq 1 100); do
        ip netns exec "${NAMESPACE[edge]}" curl -sf -o /dev/null "http://127.0.0.1:$HTTP_PORT/v1/music/health" && return 0
        sleep 0.2
    done
    die "the edge is not healthy; see $VAR/log/"
}
