"""The REST API's way in, read top to bottom: bearer value → API token → member → access level → connection.

1. `bearer(request)`: the `Authorization: Bearer op_…` value, or None.
2. `authenticate(raw, ip, ident)`: ONE statement reads the token with its team, its user (personal tokens), the
   team's access version and, when this process has a cached decision for (token, `ident`), that connection's row.
3. `resolve(token, ident, need)`: the org `ident` names (an alias, a username or an org id) and the caller's level
   on it. The decision comes from the org funnel (`orgs.access.principal_access`) and is cached per process under
   `_DECISIONS[(token hash, ident)] = (access version, connection id, Access, alias)`. A cached decision is used
   only while the team's access version is the one it was computed at; database triggers raise that version on
   every write that can change access (orgs/migrations/0004, `orgs.access.ACCESS_INPUTS`); a time-boxed decision
   (an approved access request) also only until its `expires_at`, compared with now. The token's own
   validity and the connection row are read live on every call, in step 2.

The view then hands the token out through `orgs.services.handout` (audited). A warm hand-out costs two SQL
statements: step 2 and the audit INSERT (tests/api/test_hot_path.py pins it).
"""

from __future__ import annotations

from django.views.decorators.debug import sensitive_variables

from orgs import access
from orgs.models import OrgAlias, OrgConnection
from portal.accounts.models import ApiToken, Team, TeamAccessVersion, User
from portal.accounts.tokens import api_token_accept, api_token_parse
from portal.lib import hotsql


class ApiAccessError(Exception):
    """An API answer other than success: `status` (401/403/404/409), a stable `code` and a message for people."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@sensitive_variables()
def bearer(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


# -- 2. the token statement ----------------------------------------------------------------------------------------
# Table aliases: t = the token, tm = its team, u = its user, v = the team's access version, c = the cached
# decision's connection (same team only, so a stale id can never reach another team's row).

_TOKEN, _TEAM, _USER = hotsql.Projection(ApiToken, "t"), hotsql.Projection(Team, "tm"), hotsql.Projection(User, "u")
_CONNECTION = hotsql.Projection(OrgConnection, "c")


def _token_sql(connection, *, with_org: bool) -> str:
    return (
        f"SELECT {_TOKEN.columns(connection)}, {_TEAM.columns(connection)}, {_USER.columns(connection)}, "  # noqa: S608
        + (f"{_CONNECTION.columns(connection)}, " if with_org else "")
        + f"v.version FROM {ApiToken._meta.db_table} t JOIN {Team._meta.db_table} tm ON tm.id = t.team_id "
        f"LEFT JOIN {User._meta.db_table} u ON u.id = t.user_id "
        f"LEFT JOIN {TeamAccessVersion._meta.db_table} v ON v.team_id = t.team_id "
        + (f"LEFT JOIN {OrgConnection._meta.db_table} c ON c.id = %s AND c.team_id = t.team_id " if with_org else "")
        + "WHERE t.token_hash = %s")


_TOKEN_ONLY = hotsql.Query(lambda connection: _token_sql(connection, with_org=False))
_TOKEN_AND_ORG = hotsql.Query(lambda connection: _token_sql(connection, with_org=True))


@sensitive_variables()
def authenticate(*, raw: str | None, ip: str | None = None, ident: str | None = None) -> ApiToken | None:
    """The active token for a presented bearer value, or None (unknown, revoked, expired, owner deactivated).

    Sets `token.access_version` (0 before any change) and `token.cached_connection` (the connection row of a
    cached decision for `ident`, or None)."""
    token_hash = api_token_parse(raw)
    if token_hash is None:
        return None
    cached = _DECISIONS.get((token_hash, ident)) if ident is not None else None
    if cached is None:
        row = _TOKEN_ONLY.fetch_one([token_hash], _TOKEN, _TEAM, _USER, extra=1)
    else:
        row = _TOKEN_AND_ORG.fetch_one([cached[1], token_hash], _TOKEN, _TEAM, _USER, _CONNECTION, extra=1)
    if row is None:
        return None
    token, team, user = row[:3]
    token.team = team
    if user is not None:
        token.user = user
    token.cached_connection = row[3] if cached is not None else None
    token.access_version = row[-1] or 0
    return api_token_accept(token=token, ip=ip)


# -- 3. which org, at which level ----------------------------------------------------------------------------------

_DECISIONS: dict[tuple[str, str], tuple] = {}
_DECISIONS_MAX = 20_000  # cleared when full: a bounded per-process memory cost


def resolve(token: ApiToken, ident: str, *, need=access.Level.TARGET) -> tuple:
    """(connection, Access, alias or None) for an alias, a username or an org id (15 or 18 characters), in that
    order, as seen by `token`.

    404 when nothing the token can see matches (unknown and invisible look the same), 403 when it is visible but
    below `need`, 409 when an org id matches several visible connections."""
    key = (token.token_hash, ident)
    cached = _DECISIONS.get(key)
    connection = None
    # A time-boxed decision (an approved access request) is trusted only until its expiry: the comparison with now
    # is made here on every call, so access ends on time with no write (and no version change) at all.
    if cached is not None and cached[0] == token.access_version and cached[2].current:
        _, connection_id, found, alias = cached
        row = getattr(token, "cached_connection", None)
        if row is not None and row.pk == connection_id:
            connection = row
    if connection is None:
        connection, found, alias = _resolve_uncached(token, ident)
        if len(_DECISIONS) >= _DECISIONS_MAX:
            _DECISIONS.clear()
        _DECISIONS[key] = (token.access_version, connection.pk, found, alias)
    if not found.allows(need):
        if access.only_eligible(found, need):
            raise ApiAccessError(403, "access_on_request", access.eligible_denial(ident, found))
        raise ApiAccessError(403, "forbidden", f"You can see “{ident}” but not target it ({found}).")
    return connection, found, alias


def _resolve_uncached(token: ApiToken, ident: str) -> tuple:
    """Find the candidate connections `ident` names, stage by stage, and ask the org funnel about those only."""
    in_team = OrgConnection.objects.filter(team_id=token.team_id)
    aliases = {}
    if token.user_id:
        aliases = {a.connection_id: a for a in OrgAlias.objects.filter(team_id=token.team_id,
                                                                        user_id=token.user_id, alias=ident)}
    stages = [lambda: list(aliases), lambda: list(in_team.filter(username__iexact=ident).values_list("id", flat=True))]
    if len(ident) in (15, 18):
        stages.append(lambda: list(in_team.filter(org_id__startswith=ident[:15]).values_list("id", flat=True)))
    reachable = {}
    for stage in stages:
        candidates = stage()
        if candidates:
            reachable = access.principal_access(token, connection_ids=candidates)
            if reachable:
                break
    if not reachable:
        raise ApiAccessError(404, "not_found", f"No org “{ident}” that you can see.")
    if len(reachable) > 1:
        raise ApiAccessError(409, "ambiguous", f"“{ident}” matches {len(reachable)} connections; use an alias or "
                                               "the username.")
    ((connection_id, found),) = reachable.items()
    connection = OrgConnection.objects.get(pk=connection_id)
    alias = aliases.get(connection_id)
    if alias is None and token.user_id:
        alias = OrgAlias.objects.filter(user_id=token.user_id, connection_id=connection_id).first()
    return connection, found, alias

