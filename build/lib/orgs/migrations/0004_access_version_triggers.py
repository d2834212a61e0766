"""Database triggers that raise a team's `accounts_teamaccessversion.version` whenever access may have changed.

`orgs.access` caches the REST API's decisions per process and trusts a cached one only while the team's version
is unchanged, so these triggers must fire on every write that can change who reaches which org: memberships (role),
groups and their members, grants, aliases, and connections (created, deleted, or a new owner, team, username or org
id; token refreshes and status changes do not count). Written for PostgreSQL and for SQLite (`make run`).
"""

from django.db import migrations

VERSION_TABLE = "accounts_teamaccessversion"
# (table, how to find the team of a NEW/OLD row, extra condition for UPDATE)
TEAM_TABLES = [
    ("accounts_membership", "{row}.team_id", None),
    ("accounts_teamgroup", "{row}.team_id", None),
    ("accounts_teamgroup_members", "(SELECT g.team_id FROM accounts_teamgroup g WHERE g.id = {row}.teamgroup_id)", None),
    ("orgs_grant", "{row}.team_id", None),
    ("orgs_orgalias", "{row}.team_id", None),
    ("orgs_orgconnection", "{row}.team_id",
     "OLD.owner_id IS DISTINCT FROM NEW.owner_id OR OLD.team_id IS DISTINCT FROM NEW.team_id "
     "OR OLD.username IS DISTINCT FROM NEW.username OR OLD.org_id IS DISTINCT FROM NEW.org_id"),
]


def _bump(team_expr: str, vendor: str) -> str:
    # NULL (a group already deleted) inserts nothing.
    if vendor == "postgresql":
        return (f"INSERT INTO {VERSION_TABLE} (team_id, version) SELECT t, 1 FROM (SELECT {team_expr} AS t) s "
                f"WHERE t IS NOT NULL ON CONFLICT (team_id) DO UPDATE SET version = {VERSION_TABLE}.version + 1;")
    return (f"INSERT INTO {VERSION_TABLE} (team_id, version) SELECT t, 1 FROM (SELECT {team_expr} AS t) "
            f"WHERE t IS NOT NULL ON CONFLICT (team_id) DO UPDATE SET version = version + 1;")


def _postgresql() -> tuple[list[str], list[str]]:
    create, drop = [], []
    for table, team, update_when in TEAM_TABLES:
        function = f"{table}_access_version"
        create.append(f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN {_bump(team.format(row='OLD'), 'postgresql')} END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND {team.format(row='OLD')} IS DISTINCT FROM {team.format(row='NEW')})
        THEN {_bump(team.format(row='NEW'), 'postgresql')} END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;""")
        create.append(f"CREATE TRIGGER {function}_change AFTER INSERT OR DELETE ON {table} "
                      f"FOR EACH ROW EXECUTE FUNCTION {function}();")
        when = f" WHEN ({update_when})" if update_when else ""
        create.append(f"CREATE TRIGGER {function}_update AFTER UPDATE ON {table} FOR EACH ROW{when} "
                      f"EXECUTE FUNCTION {function}();")
        drop += [f"DROP TRIGGER IF EXISTS {function}_change ON {table};",
                 f"DROP TRIGGER IF EXISTS {function}_update ON {table};",
                 f"DROP FUNCTION IF EXISTS {function}();"]
    return create, drop


def _sqlite() -> tuple[list[str], list[str]]:
    create, drop = [], []
    for table, team, update_when in TEAM_TABLES:
        name = f"{table}_access_version"
        when = f" WHEN {update_when.replace('IS DISTINCT FROM', 'IS NOT')}" if update_when else ""
        create += [
            f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN {_bump(team.format(row='NEW'), 'sqlite')} END;",
            f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN {_bump(team.format(row='OLD'), 'sqlite')} END;",
            f"CREATE TRIGGER {name}_update AFTER UPDATE ON {table}{when} BEGIN "
            f"{_bump(team.format(row='OLD'), 'sqlite')} {_bump(team.format(row='NEW'), 'sqlite')} END;",
        ]
        drop += [f"DROP TRIGGER IF EXISTS {name}_{op};" for op in ("insert", "delete", "update")]
    return create, drop


def _statements(vendor: str) -> tuple[list[str], list[str]]:
    if vendor == "postgresql":
        return _postgresql()
    if vendor == "sqlite":
        return _sqlite()
    raise RuntimeError(f"no access-version triggers for the {vendor} database; the API decision cache needs them")


def forwards(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor)[0]:
        schema_editor.execute(statement, params=None)


def backwards(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor)[1]:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("orgs", "0003_orgconnection_last_error_at_and_more"),
        ("accounts", "0006_team_access_version"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
