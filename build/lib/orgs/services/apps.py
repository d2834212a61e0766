"""Connected apps (consumer key + secret, staged secret rotation) and JWT signing keys: every write.

A refused operation raises `ServiceError` (from the people side: one error type for the whole portal) with a
message fit for the user, and changes nothing.
"""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.views.decorators.debug import sensitive_variables

from orgs.models import ConnectedApp, SigningKey
from orgs.salesforce.errors import OAuthError
from orgs.services import keys
from orgs.services.client import login_url_validate
from portal.accounts.models import AuditEvent, Membership
from portal.accounts.services import ServiceError, audit_record

Kind = AuditEvent.Kind

__all__ = ["ServiceError"]


def callback_url() -> str:
    """The exact OAuth callback URL to register on the connected app / External Client App."""
    from django.urls import reverse

    return settings.PORTAL_BASE_URL + reverse("orgs:oauth_callback")


# -- connected apps ----------------------------------------------------------------------------------------------------

def _check_signing_key(actor: Membership, signing_key: SigningKey | None) -> None:
    if signing_key is not None and signing_key.team_id != actor.team_id:
        raise ServiceError("That signing key belongs to another team.")


@sensitive_variables()
@transaction.atomic
def connected_app_create(*, actor: Membership, name: str, consumer_key: str, consumer_secret: str | None,
                         login_url: str, scopes: str, require_pkce: bool, signing_key: SigningKey | None = None,
                         ip: str | None = None) -> ConnectedApp:
    _check_signing_key(actor, signing_key)
    app = ConnectedApp(team=actor.team, name=name.strip(), consumer_key=consumer_key.strip(),
                       login_url=login_url_validate(login_url), scopes=" ".join(scopes.split()),
                       require_pkce=require_pkce, signing_key=signing_key, created_by=actor.user)
    app.seal("consumer_secret", (consumer_secret or "").strip() or None)
    try:
        with transaction.atomic():
            app.save()
    except IntegrityError:
        raise ServiceError(f"The team already has a connected app called “{app.name}”.") from None
    audit_record(team=actor.team, actor=actor.user, kind=Kind.APP_CREATED, subject=app.name, ip=ip,
                 data={"consumer_key": app.consumer_key, "login_url": app.login_url,
                       "public_client": app.is_public_client})
    return app


@transaction.atomic
def connected_app_update(*, actor: Membership, app: ConnectedApp, name: str, consumer_key: str, login_url: str,
                         scopes: str, require_pkce: bool, signing_key: SigningKey | None,
                         ip: str | None = None) -> ConnectedApp:
    _check_signing_key(actor, signing_key)
    app = ConnectedApp.objects.select_for_update().get(pk=app.pk)
    before = {"name": app.name, "consumer_key": app.consumer_key, "login_url": app.login_url, "scopes": app.scopes,
              "require_pkce": app.require_pkce, "signing_key": app.signing_key.name if app.signing_key else None}
    app.name, app.consumer_key = name.strip(), consumer_key.strip()
    app.login_url, app.scopes = login_url_validate(login_url), " ".join(scopes.split())
    app.require_pkce, app.signing_key = require_pkce, signing_key
    after = {"name": app.name, "consumer_key": app.consumer_key, "login_url": app.login_url, "scopes": app.scopes,
             "require_pkce": app.require_pkce, "signing_key": signing_key.name if signing_key else None}
    try:
        with transaction.atomic():
            app.save()
    except IntegrityError:
        raise ServiceError(f"The team already has a connected app called “{app.name}”.") from None
    changed = {k: after[k] for k in after if after[k] != before[k]}
    if changed:
        audit_record(team=actor.team, actor=actor.user, kind=Kind.APP_UPDATED, subject=app.name, ip=ip,
                     data=changed)
    return app


@sensitive_variables()
@transaction.atomic
def connected_app_stage_secret(*, actor: Membership, app: ConnectedApp, secret: str, ip: str | None = None) -> None:
    """Keep a new consumer secret beside the current one until it is confirmed working (staged rotation)."""
    secret = secret.strip()
    if not secret:
        raise ServiceError("Enter the new consumer secret.")
    app = ConnectedApp.objects.select_for_update().get(pk=app.pk)
    app.seal("pending_consumer_secret", secret)
    app.save(update_fields=["pending_consumer_secret", "consumer_secret", "secrets_key_id", "updated_at"])
    audit_record(team=actor.team, actor=actor.user, kind=Kind.APP_SECRET_STAGED, subject=app.name, ip=ip)


@transaction.atomic
def connected_app_confirm_secret(*, actor: Membership | None, app: ConnectedApp, ip: str | None = None) -> None:
    """Promote the staged secret: it replaces the old one, which is forgotten."""
    app = ConnectedApp.objects.select_for_update().get(pk=app.pk)
    pending = app.reveal("pending_consumer_secret")
    if pending is None:
        raise ServiceError("There is no new secret waiting for confirmation.")
    app.seal("consumer_secret", pending)
    app.seal("pending_consumer_secret", None)
    app.save(update_fields=["pending_consumer_secret", "consumer_secret", "secrets_key_id", "updated_at"])
    audit_record(team=app.team, actor=actor.user if actor else None, kind=Kind.APP_SECRET_CONFIRMED,
                 subject=app.name, ip=ip, data={} if actor else {"by": "first successful use"})


@transaction.atomic
def connected_app_discard_secret(*, actor: Membership, app: ConnectedApp, ip: str | None = None) -> None:
    app = ConnectedApp.objects.select_for_update().get(pk=app.pk)
    if not app.pending_consumer_secret:
        raise ServiceError("There is no new secret waiting for confirmation.")
    app.seal("pending_consumer_secret", None)
    app.save(update_fields=["pending_consumer_secret", "consumer_secret", "secrets_key_id", "updated_at"])
    audit_record(team=actor.team, actor=actor.user, kind=Kind.APP_SECRET_DISCARDED, subject=app.name, ip=ip)


@transaction.atomic
def connected_app_delete(*, actor: Membership, app: ConnectedApp, ip: str | None = None) -> None:
    users = list(app.connections.select_related("owner").order_by("username")[:50])
    if users:
        listed = ", ".join(f"{c.username} (owner {c.owner.email})" for c in users)
        raise ServiceError(f"“{app.name}” is still used by {app.connections.count()} connection(s): {listed}. "
                           "Disconnect or reconnect them with another app first.")
    name = app.name
    app.delete()
    audit_record(team=actor.team, actor=actor.user, kind=Kind.APP_DELETED, subject=name, ip=ip)


# -- signing keys ------------------------------------------------------------------------------------------------------

def _save_key(*, actor: Membership, name: str, material: keys.KeyMaterial, generated: bool) -> SigningKey:
    key = SigningKey(team=actor.team, name=name.strip(), certificate_pem=material.certificate_pem,
                     subject=material.subject, not_before=material.not_before, not_after=material.not_after,
                     fingerprint_sha256=material.fingerprint_sha256, key_size=material.key_size,
                     generated=generated, created_by=actor.user)
    key.seal("private_key", material.private_key_pem)
    try:
        with transaction.atomic():
            key.save()
    except IntegrityError:
        raise ServiceError(f"The team already has a signing key called “{key.name}”.") from None
    return key


@sensitive_variables()
@transaction.atomic
def signing_key_upload(*, actor: Membership, name: str, private_key: bytes, certificate: bytes,
                       passphrase: str | None = None, ip: str | None = None) -> SigningKey:
    try:
        material = keys.load_uploaded(private_key=private_key, certificate=certificate, passphrase=passphrase)
    except keys.KeyMaterialError as exc:
        raise ServiceError(str(exc)) from None
    key = _save_key(actor=actor, name=name, material=material, generated=False)
    audit_record(team=actor.team, actor=actor.user, kind=Kind.KEY_UPLOADED, subject=key.name, ip=ip,
                 data={"fingerprint": key.fingerprint_sha256, "not_after": key.not_after.isoformat()})
    return key


@sensitive_variables()
@transaction.atomic
def signing_key_generate(*, actor: Membership, name: str, common_name: str, key_size: int, validity_days: int,
                         ip: str | None = None) -> SigningKey:
    try:
        material = keys.generate(common_name=common_name, key_size=key_size, validity_days=validity_days)
    except keys.KeyMaterialError as exc:
        raise ServiceError(str(exc)) from None
    key = _save_key(actor=actor, name=name, material=material, generated=True)
    audit_record(team=actor.team, actor=actor.user, kind=Kind.KEY_GENERATED, subject=key.name, ip=ip,
                 data={"fingerprint": key.fingerprint_sha256, "key_size": key_size,
                       "not_after": key.not_after.isoformat()})
    return key


@transaction.atomic
def signing_key_delete(*, actor: Membership, key: SigningKey, ip: str | None = None) -> None:
    apps = list(key.apps.order_by("name").values_list("name", flat=True))
    if apps:
        raise ServiceError(f"“{key.name}” is used by {', '.join(apps)}. Choose another key for them first.")
    name = key.name
    key.delete()
    audit_record(team=actor.team, actor=actor.user, kind=Kind.KEY_DELETED, subject=name, ip=ip)


@sensitive_variables()
def with_app_secret(app: ConnectedApp, call):
    """Run `call(secret)` with the app's staged secret if there is one, else the current one.

    Staged rotation: the new secret is tried first; if Salesforce rejects the client credentials, the current
    secret is used instead. The first success with the staged secret confirms it (the old one is forgotten).
    """
    pending = app.reveal("pending_consumer_secret")
    if pending:
        try:
            result = call(pending)
        except OAuthError as exc:
            if exc.error not in ("invalid_client", "invalid_client_credentials"):
                raise
        else:
            connected_app_confirm_secret(actor=None, app=app)
            return result
    return call(app.reveal("consumer_secret"))
