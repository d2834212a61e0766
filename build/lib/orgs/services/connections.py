"""Org connections once authorized: the one upsert (web flow, JWT, scratch orgs), org facts, aliases, disconnect.

Every Salesforce call goes through `orgs.services.client.sf_client()`; every write is here.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.debug import sensitive_variables

from orgs import salesforce
from orgs.access import effective_access
from orgs.models import ConnectedApp, OrgAlias, OrgConnection
from orgs.services import revocation
from orgs.services.client import revoke_quietly, sf_client
from portal.accounts.models import AuditEvent, Membership, User
from portal.accounts.services import ServiceError, audit_record
from portal.lib import crypto

log = logging.getLogger(__name__)
Kind = AuditEvent.Kind

UNAVAILABLE = "Salesforce is unavailable, try again in a moment. Nothing was saved."

# -- completing a flow -----------------------------------------------------------------------------------------------

@dataclass
class OrgFacts:
    tokens: salesforce.TokenResponse
    identity: salesforce.Identity
    org: salesforce.OrgInfo
    is_devhub: bool
    api_version: str


def fetch_org_facts(client: salesforce.SalesforceClient, tokens: salesforce.TokenResponse) -> OrgFacts:
    """Who and what the tokens are for: identity, org classification, Dev Hub status, API version."""
    identity = client.identity(id_url=tokens.id_url, access_token=tokens.access_token)
    version = client.latest_api_version(instance_url=tokens.instance_url)
    org = client.organization(instance_url=tokens.instance_url, access_token=tokens.access_token,
                              api_version=version)
    is_devhub = client.is_dev_hub(instance_url=tokens.instance_url, access_token=tokens.access_token,
                                  api_version=version)
    return OrgFacts(tokens=tokens, identity=identity, org=org, is_devhub=is_devhub, api_version=version)


@sensitive_variables()
@transaction.atomic
def connection_upsert(*, membership: Membership, app: ConnectedApp, flow: str, login_url: str, facts: OrgFacts,
                      alias: str = "", dev_hub: OrgConnection | None = None, ip: str | None = None,
                      audit_data: dict | None = None, reconnect: OrgConnection | None = None
                      ) -> tuple[OrgConnection, bool, str | None]:
    """Create or update (never duplicate) the member's connection for one Salesforce user, with fresh tokens, and
    give the member an alias for it. Returns (connection, created, the superseded refresh token or None).
    Used by the web flow, JWT connections and scratch orgs created through the portal.

    `reconnect`: the connection a Reconnect was started from. It is updated in place (same id, owner, grants,
    aliases and history) even when another user of the same org signed in; the caller checked the org id."""
    tokens, identity, org = facts.tokens, facts.identity, facts.org
    previous_username = None
    if reconnect is not None:
        connection = OrgConnection.objects.select_for_update().get(pk=reconnect.pk)
        if (OrgConnection.objects.filter(team=connection.team, owner_id=connection.owner_id, org_id=tokens.org_id,
                                         user_id=tokens.user_id).exclude(pk=connection.pk).exists()):
            raise ServiceError(f"{identity.username} is already connected as another org of the same owner; "
                               "reconnect that one instead. Nothing was changed.")
        if connection.user_id != tokens.user_id:
            previous_username = connection.username
        connection.user_id = tokens.user_id
    else:
        connection = (OrgConnection.objects.select_for_update()
                      .filter(team=membership.team, owner=membership.user, org_id=tokens.org_id,
                              user_id=tokens.user_id).first())
    created = connection is None
    superseded = None
    if created:
        connection = OrgConnection(team=membership.team, owner=membership.user, org_id=tokens.org_id,
                                   user_id=tokens.user_id)
    else:
        superseded = connection.reveal("refresh_token")
    was_reauth = not created and connection.status != OrgConnection.Status.CONNECTED
    was_status = connection.get_status_display().lower() if was_reauth else ""
    connection.app, connection.flow = app, flow
    connection.username, connection.org_name = identity.username, org.name
    connection.kind, connection.edition, connection.is_devhub = org.kind, org.organization_type, facts.is_devhub
    connection.login_url, connection.instance_url = login_url, tokens.instance_url
    connection.api_version = facts.api_version
    connection.dev_hub = dev_hub or connection.dev_hub
    connection.seal("refresh_token", tokens.refresh_token)
    connection.seal("access_token", tokens.access_token)
    connection.access_token_issued_at = tokens.issued_at_datetime or timezone.now()
    connection.last_refresh_at = timezone.now()
    connection.status, connection.status_reason = OrgConnection.Status.CONNECTED, ""
    connection.refresh_failures, connection.reauth_notified_at = 0, None
    connection.refresh_started_at = None  # a fresh token family: no interrupted refresh is pending any more
    connection.save()
    row = OrgAlias.objects.filter(user=membership.user, connection=connection).first()
    if row is None:
        row = OrgAlias.objects.create(team=membership.team, user=membership.user, connection=connection,
                                      alias=alias_free(membership, alias or suggest_alias(identity, org)))
    if created:
        aliases_ensure(team=membership.team, connection_ids=[connection.pk])  # team admins reach it at once
    details = {"alias": row.alias, "username": connection.username, "org_id": connection.org_id,
               "type": connection.type_label, "instance_url": connection.instance_url, "flow": flow,
               **(audit_data or {})}
    if was_reauth:
        details["recovered_from"] = was_status
    if previous_username:
        details["previous_username"] = previous_username
    audit_record(team=membership.team, actor=membership.user,
                 kind=Kind.ORG_CONNECTED if created else Kind.ORG_RECONNECTED, subject=row.alias, ip=ip,
                 data=details)
    return connection, created, superseded


@transaction.atomic
def connection_reauthorize_in_place(*, connection: OrgConnection, facts: OrgFacts, login_url: str, actor: User | None,
                                    ip: str | None = None, audit_data: dict | None = None) -> OrgConnection:
    """Point an existing connection at a new org (a refreshed sandbox gets a new org id): same row, id, aliases,
    grants and history; new org id, user, tokens. The cached access token is replaced, so the old org's token is
    never served again; the superseded refresh token is revoked at Salesforce (quietly: it is usually dead)."""
    tokens, identity, org = facts.tokens, facts.identity, facts.org
    connection = OrgConnection.objects.select_for_update().get(pk=connection.pk)
    old_org_id, old_username = connection.org_id, connection.username
    try:
        superseded = connection.reveal("refresh_token")
    except crypto.DecryptionError:
        superseded = None
    old_base = connection.instance_url
    connection.org_id, connection.user_id = tokens.org_id, tokens.user_id
    connection.username, connection.org_name = identity.username, org.name
    connection.kind, connection.edition = org.kind, org.organization_type
    connection.is_devhub, connection.api_version = facts.is_devhub, facts.api_version
    connection.login_url, connection.instance_url = login_url, tokens.instance_url
    connection.seal("refresh_token", tokens.refresh_token)
    connection.seal("access_token", tokens.access_token)
    connection.access_token_issued_at = tokens.issued_at_datetime or timezone.now()
    connection.last_refresh_at = timezone.now()
    connection.status, connection.status_reason = OrgConnection.Status.CONNECTED, ""
    connection.refresh_failures, connection.reauth_notified_at = 0, None
    connection.save()
    if superseded and superseded != tokens.refresh_token:
        transaction.on_commit(lambda: revoke_quietly(sf_client(), base_url=old_base, token=superseded))
    audit_record(team=connection.team, actor=actor, kind=Kind.ORG_RECONNECTED, subject=connection.username, ip=ip,
                 data={"old_org_id": old_org_id, "new_org_id": connection.org_id, "old_username": old_username,
                       "username": connection.username, "in_place": True, **(audit_data or {})})
    return connection


# -- aliases and defaults ----------------------------------------------------------------------------------------------

def alias_validate(alias: str) -> str:
    if not re.match(OrgAlias.ALIAS_PATTERN, alias or ""):
        raise ServiceError("An alias is 1–80 letters, digits, dots, dashes or underscores, starting with a letter "
                           "or digit (like an sf alias).")
    return alias


def suggest_alias(identity: salesforce.Identity, org: salesforce.OrgInfo) -> str:
    base = slugify(org.name)[:40] or slugify(identity.username.split("@")[0])[:40] or "org"
    return base


def alias_pick(wanted: str, taken: set[str]) -> str:
    """`wanted` made into a valid alias, numbered (`uat-2`, `uat-3`, …) until it is not in `taken`."""
    base = alias_validate(re.sub(r"[^A-Za-z0-9._-]", "-", wanted).strip("-._")[:70] or "org")
    alias, n = base, 2
    while alias in taken:
        alias, n = f"{base}-{n}", n + 1
    return alias


def aliases_ensure(*, team, user_ids=None, connection_ids=None) -> int:
    """Everyone who can see a connection of the team gets an alias for it, in the caller's transaction: the one
    mechanism behind "aliases exist from the moment access is granted" (new connection, grant, group membership,
    role change, joining). Scope it with `user_ids` and/or `connection_ids` (as orgs.access.effective_access).
    Missing aliases are created in bulk, suggested from the owner's alias (else the username's local part) and
    numbered when the member already uses the name. Existing aliases are never touched. Returns how many."""
    pairs = effective_access(team=team, user_ids=user_ids, connection_ids=connection_ids)
    if not pairs:
        return 0
    have = set(OrgAlias.objects.filter(team=team, user_id__in={uid for uid, _ in pairs},
                                       connection_id__in={cid for _, cid in pairs})
               .values_list("user_id", "connection_id"))
    missing = sorted(pair for pair in pairs if pair not in have)
    if not missing:
        return 0
    missing_connections = {cid for _, cid in missing}
    taken: dict[int, set[str]] = defaultdict(set)
    for user_id, name in OrgAlias.objects.filter(team=team, user_id__in={uid for uid, _ in missing}) \
            .values_list("user_id", "alias"):
        taken[user_id].add(name)
    owner_aliases = dict(OrgAlias.objects.filter(connection_id__in=missing_connections,
                                                 connection__owner_id=F("user_id"))
                         .values_list("connection_id", "alias"))
    usernames = dict(OrgConnection.objects.filter(id__in=missing_connections).values_list("id", "username"))
    rows = []
    for user_id, connection_id in missing:
        name = alias_pick(owner_aliases.get(connection_id) or usernames[connection_id].split("@")[0],
                          taken[user_id])
        taken[user_id].add(name)
        rows.append(OrgAlias(team=team, user_id=user_id, connection_id=connection_id, alias=name))
    OrgAlias.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def alias_free(membership: Membership, wanted: str) -> str:
    """A free alias for the member, based on `wanted`."""
    taken = set(OrgAlias.objects.filter(team=membership.team, user=membership.user).values_list("alias", flat=True))
    return alias_pick(wanted, taken)


@transaction.atomic
def org_alias_rename(*, alias: OrgAlias, new_alias: str, ip: str | None = None) -> None:
    new_alias = alias_validate(new_alias.strip())
    if new_alias == alias.alias:
        return
    if OrgAlias.objects.filter(team=alias.team, user=alias.user, alias=new_alias).exists():
        raise ServiceError(f"You already use the alias “{new_alias}” for another org.")
    old = alias.alias
    OrgAlias.objects.filter(pk=alias.pk).update(alias=new_alias)
    audit_record(team=alias.team, actor=alias.user, kind=Kind.ORG_RENAMED, subject=new_alias, ip=ip,
                 data={"from": old, "to": new_alias, "username": alias.connection.username})


@transaction.atomic
def org_alias_set_default(*, alias: OrgAlias, which: str, ip: str | None = None) -> None:
    """Make this org the member's default org (`target-org`) or default Dev Hub (`target-dev-hub`)."""
    if which not in ("org", "devhub"):
        raise ServiceError("Choose the default org or the default Dev Hub.")
    if which == "devhub" and not alias.connection.is_devhub:
        raise ServiceError(f"“{alias.alias}” is not a Dev Hub.")
    field = "is_default_org" if which == "org" else "is_default_devhub"
    OrgAlias.objects.filter(team=alias.team, user=alias.user, **{field: True}).update(**{field: False})
    OrgAlias.objects.filter(pk=alias.pk).update(**{field: True})
    audit_record(team=alias.team, actor=alias.user, kind=Kind.ORG_DEFAULT_SET, subject=alias.alias, ip=ip,
                 data={"default": "target-org" if which == "org" else "target-dev-hub"})


# -- disconnecting -----------------------------------------------------------------------------------------------------

def connection_disconnect(*, actor: User, connection: OrgConnection, ip: str | None = None) -> str:
    """Delete the connection now and revoke its token at Salesforce: the token is stashed sealed in a pending row in
    the same transaction, a first revoke is tried at once, and a transient failure is retried by a Celery task
    (orgs/services/revocation.py). Returns the outcome: "revoked", "pending-retry", "failed" or "nothing-to-revoke";
    every attempt is audited (`org.token_revoked`)."""
    with transaction.atomic():
        locked = OrgConnection.objects.select_for_update(of=("self",)).filter(pk=connection.pk).first()
        if locked is None:
            return revocation.NOTHING  # disconnected meanwhile
        pending = revocation.connection_disconnect_revoke(connection=locked, actor=actor)
        OrgConnection.objects.filter(pk=locked.pk).delete()
        audit_record(team=connection.team, actor=actor, kind=Kind.ORG_DISCONNECTED, subject=connection.username,
                     ip=ip, data={"org_id": connection.org_id,
                                  "revocation": "pending" if pending else revocation.NOTHING})
    return revocation.disconnect_revocations_run(revocation_ids=pending, team=connection.team,
                                                 username=connection.username, org_id=connection.org_id,
                                                 actor=actor, ip=ip)
