"""No plaintext at rest: canary secrets entered through the real pages appear nowhere in pg_dump, the logs, or the
database's physical files and WAL after a CHECKPOINT (docs/security.md, "Secrets at rest")."""

import logging
import re
import shutil
import subprocess

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from tests.browser.helpers import totp
from tests.canaries import encodings, find_leaks, new_canary
from tests.conftest import PASSWORD
from tests.registrations import keyfactory as kf


def pg_dump() -> str:
    db = connection.settings_dict
    env = {"PGPASSWORD": db.get("PASSWORD") or "", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [shutil.which("pg_dump") or "pg_dump", "--data-only", "-h", db["HOST"] or "127.0.0.1", "-p",
         str(db["PORT"] or 5432), "-U", db["USER"], db["NAME"]],
        capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def physical_hits(canaries: dict[str, str], *, since: float) -> list[str]:
    """Files of this database and WAL segments written since `since` that contain a canary's bytes, after a
    CHECKPOINT. Needs PostgreSQL on this machine with a readable data directory (required under CI)."""
    from pathlib import Path

    from django.conf import settings

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
        cursor.execute("SHOW data_directory")
        datadir = Path(cursor.fetchone()[0])
        cursor.execute("SELECT oid FROM pg_database WHERE datname = current_database()")
        oid = cursor.fetchone()[0]
    roots = [datadir / "base" / str(oid), datadir / "pg_wal"]
    if not all(root.is_dir() for root in roots):
        if settings.CI:
            raise AssertionError(f"CI=true but PostgreSQL's data directory {datadir} is not readable here")
        pytest.skip(f"PostgreSQL's data directory {datadir} is not readable from this process")
    pattern = re.compile(b"|".join(re.escape(value.encode()) for value in canaries.values()))
    hits = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and (root.name != "pg_wal" or path.stat().st_mtime >= since):
                if pattern.search(path.read_bytes()):
                    hits.append(str(path))
    return hits


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_physical_check_finds_plaintext_in_table_files_and_wal():
    """The physical detector works: a plaintext value written and checkpointed is found."""
    import time

    start = time.time() - 1
    canary = new_canary("phys")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE canary_probe (v text)")
        try:
            cursor.execute("INSERT INTO canary_probe VALUES (%s)", [canary])
            hits = physical_hits({"probe": canary}, since=start)
        finally:
            cursor.execute("DROP TABLE canary_probe")
    assert any("/base/" in h for h in hits) and any("pg_wal" in h for h in hits), hits


def test_canary_encodings_are_found_when_present():
    """The detector itself works, so a clean result means something."""
    canary = new_canary("x")
    for form, value in encodings(canary).items():
        assert find_leaks(f"prefix {value} suffix", {"c": canary}), form
    import base64

    assert find_leaks("zz" + base64.b64encode(b"ab" + canary.encode() + b"q").decode(), {"c": canary})


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_no_plaintext_secret_in_the_database_dump_or_the_logs(world, client, caplog):
    import time

    start = time.time() - 1
    caplog.set_level(logging.DEBUG)
    team = world.team.code
    client.post(reverse("account_login"), {"login": world.admin.email, "password": PASSWORD})

    # A consumer secret, through the registration page.
    consumer_secret = new_canary("cs")
    response = client.post(reverse("orgs:app_create", args=[team]), {
        "name": "Canary app", "consumer_key": "3MVG9canary", "consumer_secret": consumer_secret,
        "environment": "production", "scopes": "api refresh_token web", "require_pkce": "on"})
    assert response.status_code == 302
    # A staged rotation secret too.
    pending_secret = new_canary("ps")
    client.post(response["Location"].replace("/apps/", "/apps/", 1) + "secret/",
                {"action": "stage", "secret": pending_secret})

    # A private key (passphrase-protected upload), through the upload page.
    key = kf.rsa_key()
    pem = kf.private_pem(key).decode()
    key_body = "".join(pem.splitlines()[1:-1])
    key_canaries = {f"key{i}": key_body[i:i + 40] for i in range(100, 1400, 300)}
    passphrase = new_canary("pp")
    response = client.post(reverse("orgs:key_upload", args=[team]), {
        "name": "Canary key", "passphrase": passphrase,
        "private_key": SimpleUploadedFile("k.pem", kf.private_pem(key, passphrase.encode())),
        "certificate": SimpleUploadedFile("c.crt", kf.certificate(key))})
    assert response.status_code == 302

    # A TOTP seed, through allauth's activation page (password login first: allauth wants a recent login).
    response = client.get("/accounts/2fa/totp/activate/")
    if response.status_code == 302 and "/accounts/reauthenticate/" in response["Location"]:
        client.post(response["Location"], {"password": PASSWORD})
        response = client.get("/accounts/2fa/totp/activate/")
    page = response.content.decode()
    seed = re.search(r'id="authenticator_secret"[^>]*value="([A-Z2-7]+)"', page) or \
        re.search(r'value="([A-Z2-7]{16,})"[^>]*id="authenticator_secret"', page)
    assert seed, page[:3000]
    seed = seed.group(1)
    response = client.post("/accounts/2fa/totp/activate/", {"code": totp(seed)})
    assert response.status_code == 302, response.content.decode()[:2000]

    canaries = {"consumer_secret": consumer_secret, "pending_secret": pending_secret, "passphrase": passphrase,
                "totp_seed": seed, **key_canaries}
    dump = pg_dump()
    assert "Canary app" in dump and "3MVG9canary" in dump  # the dump is the right database
    assert find_leaks(dump, canaries) == []
    logs = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert find_leaks(logs, canaries) == []
    assert physical_hits(canaries, since=start) == []  # table files, indexes, TOAST and the WAL written meanwhile


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_no_oauth_code_or_token_in_the_dump_the_logs_the_cache_or_the_broker(world, client, caplog, sim, sim_app):
    """The OAuth callback's code, the refresh token and the access tokens handed out (web and API) appear nowhere in
    pg_dump, the logs, the Redis cache or the Celery broker database, in any encoding."""
    from urllib.parse import parse_qs, urlsplit

    import redis
    from django.conf import settings

    from orgs.models import OrgConnection
    from portal.accounts.models import Membership
    from portal.accounts.tokens import api_token_create
    from tests.connect.helpers import callback_path, login_and_allow, start

    caplog.set_level(logging.DEBUG)
    client.force_login(world.owner)
    callback = login_and_allow(sim, start(client, world, sim_app, alias="uat"), "dev@acme.example.uat")
    code = parse_qs(urlsplit(callback).query)["code"][0]
    assert client.get(callback_path(callback)).status_code in (302, 303)
    connection = OrgConnection.objects.get(username="dev@acme.example.uat")
    web = client.post(reverse("orgs:token", args=[world.team.code, connection.code]))
    assert web.status_code == 200
    _, raw = api_token_create(actor=Membership.objects.get(team=world.team, user=world.owner), kind="personal",
                              name="canary")
    api = client.post("/api/v1/orgs/uat/access-token", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.status_code == 200
    canaries = {"code": code, "refresh_token": connection.reveal("refresh_token"),
                "access_token": api.json()["access_token"], "api_token": raw}

    assert find_leaks(pg_dump(), canaries) == []
    logs = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert find_leaks(logs, canaries) == []
    stored = []
    for url in {settings.REDIS_URL, settings.CACHES["default"]["LOCATION"]}:
        server = redis.Redis.from_url(url)
        for key in server.scan_iter(count=1000):
            kind = server.type(key)
            if kind == b"string":
                stored.append(repr(server.get(key)))
            elif kind == b"list":
                stored.extend(repr(item) for item in server.lrange(key, 0, -1))
            elif kind == b"hash":
                stored.append(repr(server.hgetall(key)))
            stored.append(repr(key))
    assert stored, "the cache holds something (the hand-out's rate-limit counter at least)"
    assert find_leaks("\n".join(stored), canaries) == []
