"""The two database roles, on a real PostgreSQL: migrations run as the owner, the portal runs as the app role.

Creates a throwaway database and both roles with deploy/postgres/10-portal-roles.sh (the very file docker-compose.yml
mounts into the postgres container), runs the real migrations with the compose `migrate` service's command as the
owner, then shows that the app role can do ordinary DML, can append to the audit log, and cannot change, delete,
truncate or unprotect it. Everything is dropped at the end, whatever happens.
"""

import os
import secrets
import subprocess
import sys
from urllib.parse import urlsplit

import psycopg
import pytest
from django.conf import settings
from psycopg import errors, sql

from tests.deploy import compose
from tests.test_settings_and_deploy import PRODUCTION_ENV, clean_env

pytestmark = pytest.mark.postgres


class Deployment:
    def __init__(self):
        server = urlsplit(settings.TEST_POSTGRES_URL or "postgres://postgres@127.0.0.1:5432/postgres")
        self.host, self.port = server.hostname or "127.0.0.1", server.port or 5432
        self.superuser = server.username or "postgres"
        self.name = f"opdeploy_{secrets.token_hex(5)}"
        self.owner, self.app = f"{self.name}_owner", f"{self.name}_app"
        self.passwords = {"PORTAL_DB_OWNER_PASSWORD": secrets.token_hex(32),
                          "PORTAL_DB_APP_PASSWORD": secrets.token_hex(32)}

    def connect(self, user: str, dbname: str | None = None) -> psycopg.Connection:
        return psycopg.connect(host=self.host, port=self.port, user=user, dbname=dbname or self.name,
                               autocommit=True, connect_timeout=5)

    def url(self, user: str) -> str:
        password = self.passwords["PORTAL_DB_OWNER_PASSWORD" if user == self.owner else "PORTAL_DB_APP_PASSWORD"]
        return f"postgres://{user}:{password}@{self.host}:{self.port}/{self.name}"

    def create(self) -> None:
        env = clean_env()
        env.update(self.passwords)
        env.update({"PGHOST": self.host, "PGPORT": str(self.port), "POSTGRES_USER": self.superuser,
                    "POSTGRES_DB": "postgres", "PORTAL_DB_NAME": self.name, "PORTAL_DB_OWNER": self.owner,
                    "PORTAL_DB_APP_USER": self.app})
        result = subprocess.run([str(compose.INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr

    def manage(self, command: list[str], user: str, **extra) -> subprocess.CompletedProcess:
        """COMMAND as a compose service runs it, with the portal's production settings and USER's database URL."""
        env = clean_env()
        env.update(PRODUCTION_ENV)
        env.update({"DATABASE_URL": self.url(user), "DJANGO_SETTINGS_MODULE": "portal.settings", **extra})
        bindir = os.path.dirname(sys.executable)
        env["PATH"] = f"{bindir}:{env.get('PATH', '')}"  # `python` as in the image
        return subprocess.run(command, cwd=compose.ROOT, env=env, capture_output=True, text=True, timeout=300)

    def drop(self) -> None:
        with self.connect(self.superuser, "postgres") as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))
            for role in (self.app, self.owner):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture(scope="module")
def deployment():
    deployment = Deployment()
    try:
        deployment.create()
        migrate = compose.load({name: "x" for name in compose.required_variables()})["services"]["migrate"]
        result = deployment.manage(migrate["command"], deployment.owner)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Applying accounts.0002_audit_append_only... OK" in result.stdout
        yield deployment
    finally:
        deployment.drop()


@pytest.fixture
def app(deployment):
    with deployment.connect(deployment.app) as conn:
        yield conn


AUDIT = "accounts_auditevent"
TRIGGER = "accounts_auditevent_append_only"


def _insert_audit(conn) -> int:
    return conn.execute(
        f"INSERT INTO {AUDIT} (actor_label, kind, subject, data, created_at)"  # noqa: S608 - constant
        " VALUES ('deploy@test', 'team.created', 'roles test', '{}', now()) RETURNING id").fetchone()[0]


def test_the_owner_owns_every_table_and_the_app_role_nothing(deployment):
    with deployment.connect(deployment.superuser) as conn:
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S', 'i', 'p')").fetchall()
        assert owners == [(deployment.owner,)]
        roles = dict(conn.execute(
            "SELECT rolname, (rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls)"
            " FROM pg_roles WHERE rolname = ANY(%s)", [[deployment.owner, deployment.app]]).fetchall())
        assert roles == {deployment.owner: False, deployment.app: False}
        assert conn.execute("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member"
                            " WHERE r.rolname = %s", [deployment.app]).fetchone()[0] == 0
        assert conn.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = %s", [TRIGGER]).fetchone() == ("O",)


def test_the_app_role_appends_to_the_audit_log(app):
    event_id = _insert_audit(app)
    assert app.execute(f"SELECT kind FROM {AUDIT} WHERE id = %s", [event_id]).fetchone() == ("team.created",)  # noqa: S608


@pytest.mark.parametrize("statement", [f"UPDATE {AUDIT} SET subject = 'rewritten' WHERE id = %s",  # noqa: S608
                                       f"DELETE FROM {AUDIT} WHERE id = %s"])  # noqa: S608
def test_the_trigger_refuses_the_app_role_update_and_delete(app, statement):
    event_id = _insert_audit(app)
    with pytest.raises(errors.InsufficientPrivilege, match="append-only"):
        app.execute(statement, [event_id])
    assert app.execute(f"SELECT subject FROM {AUDIT} WHERE id = %s", [event_id]).fetchone() == ("roles test",)  # noqa: S608


@pytest.mark.parametrize("statement", [
    f"DROP TABLE {AUDIT}",
    f"DROP TABLE {AUDIT} CASCADE",
    f"ALTER TABLE {AUDIT} DISABLE TRIGGER {TRIGGER}",
    f"ALTER TABLE {AUDIT} DISABLE TRIGGER ALL",
    f"ALTER TABLE {AUDIT} RENAME TO audit_old",
    f"ALTER TABLE {AUDIT} OWNER TO CURRENT_USER",
    f"DROP TRIGGER {TRIGGER} ON {AUDIT}",
    f"TRUNCATE {AUDIT}",
    f"DROP FUNCTION {TRIGGER}() CASCADE",
    f"CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger AS 'BEGIN RETURN NEW; END' LANGUAGE plpgsql",
    f"CREATE TABLE {AUDIT}_copy (id bigint)",
    "SET session_replication_role = replica",  # would skip every trigger
])
def test_the_app_role_cannot_unprotect_the_audit_log(deployment, app, statement):
    with pytest.raises(errors.InsufficientPrivilege):
        app.execute(statement)
    with deployment.connect(deployment.superuser) as conn:
        assert conn.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = %s", [TRIGGER]).fetchone() == ("O",)
    event_id = _insert_audit(app)
    with pytest.raises(errors.InsufficientPrivilege, match="append-only"):
        app.execute(f"DELETE FROM {AUDIT} WHERE id = %s", [event_id])  # noqa: S608


def test_the_app_role_cannot_become_the_owner(deployment, app):
    with pytest.raises(errors.InsufficientPrivilege):
        app.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(deployment.owner)))


def test_the_app_role_has_ordinary_dml_on_other_tables(app):
    app.execute("INSERT INTO django_session (session_key, session_data, expire_date)"
                " VALUES ('opdeploy-session', 'data', now())")
    app.execute("UPDATE django_session SET session_data = 'changed' WHERE session_key = 'opdeploy-session'")
    assert app.execute("SELECT session_data FROM django_session WHERE session_key = 'opdeploy-session'"
                       ).fetchone() == ("changed",)
    app.execute("DELETE FROM django_session WHERE session_key = 'opdeploy-session'")
    assert app.execute("SELECT count(*) FROM django_session WHERE session_key = 'opdeploy-session'").fetchone() == (0,)


def test_tables_from_later_migrations_are_covered_too(deployment, app):
    # What a future migration does: the owner creates a table with an identity column.
    with deployment.connect(deployment.owner) as owner:
        owner.execute("CREATE TABLE opdeploy_later (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                      " name text NOT NULL)")
        owner.execute("CREATE SEQUENCE opdeploy_later_seq")
    row_id = app.execute("INSERT INTO opdeploy_later (name) VALUES ('x') RETURNING id").fetchone()[0]
    app.execute("UPDATE opdeploy_later SET name = 'y' WHERE id = %s", [row_id])
    app.execute("DELETE FROM opdeploy_later WHERE id = %s", [row_id])
    assert app.execute("SELECT nextval('opdeploy_later_seq')").fetchone() == (1,)
    with pytest.raises(errors.InsufficientPrivilege):
        app.execute("DROP TABLE opdeploy_later")


def test_the_portal_runs_as_the_app_role(deployment):
    # Nothing left to migrate (the app role reads django_migrations), and the README's createsuperuser step works.
    check = deployment.manage(["python", "manage.py", "migrate", "--check"], deployment.app)
    assert check.returncode == 0, check.stdout + check.stderr
    created = deployment.manage(["python", "manage.py", "createsuperuser", "--noinput"], deployment.app,
                                DJANGO_SUPERUSER_EMAIL="admin@deploy.example",
                                DJANGO_SUPERUSER_PASSWORD=secrets.token_urlsafe(16))
    assert created.returncode == 0, created.stdout + created.stderr
    with deployment.connect(deployment.app) as conn:
        assert conn.execute("SELECT count(*) FROM accounts_user WHERE email = 'admin@deploy.example'"
                            ).fetchone() == (1,)
