# Sourced by the maintainer scripts and music-collections-site (installed as
# /usr/lib/music-collections/common.sh).

ENV_FILE=/etc/music-collections/env
STATE_DIR=/var/lib/music-collections
SERVICE_USER=music
SITE=/etc/nginx/sites-available/music-collections

# The value of NAME in the environment file (the last assignment; one pair of
# surrounding quotes removed), else DEFAULT. The file is read, never sourced: a
# PostgreSQL URL holds characters a shell would act on.
env_value() {
    value=
    if [ -r "$ENV_FILE" ]; then
        value=$(sed -n "s/^[[:space:]]*$1=//p" "$ENV_FILE" | tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'\$/\1/")
    fi
    printf '%s\n' "${value:-$2}"
}

workers() {
    count=$(env_value MUSIC_WORKERS 2)
    case "$count" in
        ''|*[!0-9]*|0) echo "music-collections: MUSIC_WORKERS in $ENV_FILE must be a positive number" >&2; return 1 ;;
    esac
    seq 1 "$count"
}

# systemd is the running init (not a chroot, a container without it, or a build root).
systemd_running() { [ -d /run/systemd/system ]; }
