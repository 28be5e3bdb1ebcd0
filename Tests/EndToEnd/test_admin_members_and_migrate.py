"""music-admin: memberships across organizations, and migrations started together.
Needs only MUSIC_BIN_DIR (no stack): each test works on a fresh SQLite file."""
import json
import os
import subprocess

ADMIN = os.path.join(os.environ.get("MUSIC_BIN_DIR", ".build/debug"), "music-admin")


def admin(db, *arguments, ok=True):
    result = subprocess.run([ADMIN, *arguments, "--db", str(db), "--json"], capture_output=True, text=True, timeout=60)
    if ok:
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)
    assert result.returncode != 0, result.stdout
    return result.stderr


def test_member_add_update_remove(tmp_path):
    db = tmp_path / "music.sqlite"
    first = admin(db, "org", "create", "--name", "First")["id"]
    second = admin(db, "org", "create", "--name", "Second")["id"]
    user = admin(db, "user", "create", "--org", first, "--email", "multi@example.com",
                 "--capability", "USE_MUSIC_GENERATION")["id"]

    added = admin(db, "member", "add", "--org", second, "--user", user)
    assert added == {"id": user, "user_id": user, "organization_id": second, "status": "added", "capabilities": []}
    updated = admin(db, "member", "add", "--org", second, "--user", user, "--capability", "USE_MUSIC_GENERATION")
    assert updated["status"] == "updated"
    assert updated["capabilities"] == ["USE_MUSIC_GENERATION"]
    assert updated["previous_capabilities"] == []
    # The first membership is untouched.
    rows = subprocess.run(["sqlite3", str(db), "SELECT organization_id, capabilities FROM memberships ORDER BY organization_id"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert sorted(rows) == sorted([f"{first}|USE_MUSIC_GENERATION", f"{second}|USE_MUSIC_GENERATION"])

    assert admin(db, "member", "remove", "--org", second, "--user", user)["status"] == "removed"
    assert "not found" in admin(db, "member", "remove", "--org", second, "--user", user, ok=False)
    assert "organization org_missing not found" in admin(db, "member", "add", "--org", "org_missing", "--user", user, ok=False)
    assert "user usr_missing not found" in admin(db, "member", "add", "--org", first, "--user", "usr_missing", ok=False)


def test_migrations_started_together_all_succeed(tmp_path):
    """Six `music-admin migrate` processes on one fresh file: all succeed, each migration recorded once."""
    for round in range(3):
        db = tmp_path / f"fresh-{round}.sqlite"
        processes = [subprocess.Popen([ADMIN, "migrate", "--db", str(db), "--json"], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for _ in range(6)]
        results = [(p.wait(timeout=60), p.stderr.read()) for p in processes]
        for p in processes:
            p.stdout.close()
            p.stderr.close()
        assert [code for code, _ in results] == [0] * 6, [error for _, error in results]
        applied = subprocess.run(["sqlite3", str(db), "SELECT identifier FROM grdb_migrations"],
                                 capture_output=True, text=True, check=True).stdout.splitlines()
        assert len(applied) == len(set(applied)) and "v5: idempotency records per organization" in applied
