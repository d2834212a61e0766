"""Registrations pages (team admins): connected apps (consumer key + secret) and JWT signing keys.

Each view: one access call (orgs.access) → form → one service call → redirect."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.text import slugify
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from orgs import access
from orgs.access import TeamAction
from orgs.forms import (
    ConnectedAppForm,
    KeyGenerateForm,
    KeyUploadForm,
    LoginHostMixin,
    SecretForm,
)
from orgs.models import ConnectedApp, SigningKey
from orgs.services import apps as services
from portal.accounts.reauth import recent_authentication_required
from portal.lib.http import client_ip

SECRET_FIELDS = ("consumer_secret", "secret", "passphrase", "private_key")


# -- connected apps ----------------------------------------------------------------------------------------------------

@login_required
def app_list(request, team):
    membership = access.membership_for_action(request.user, team, TeamAction.VIEW_APPS)
    apps = ConnectedApp.objects.filter(team=membership.team).select_related("signing_key")
    return render(request, "orgs/app_list.html", {
        "membership": membership, "team": membership.team, "apps": apps,
        "perms": access.team_permissions(membership),
    })


@sensitive_variables()
@login_required
@sensitive_post_parameters(*SECRET_FIELDS)
@recent_authentication_required
def app_create(request, team):
    membership = access.membership_for_action(request.user, team, TeamAction.MANAGE_APPS)
    form = ConnectedAppForm(request.POST if request.method == "POST" else None, team=membership.team, creating=True)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            app = services.connected_app_create(
                actor=membership, name=data["name"], consumer_key=data["consumer_key"],
                consumer_secret=data.get("consumer_secret"), login_url=data["login_url"], scopes=data["scopes"],
                require_pkce=data["require_pkce"], signing_key=data["signing_key"], ip=client_ip(request))
        except services.ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Connected app “{app.name}” registered. Paste the callback URL below "
                                      "into Salesforce if you have not yet.")
            return redirect("orgs:app_detail", team=membership.team.code, app=app.code)
    return render(request, "orgs/app_form.html", {
        "membership": membership, "team": membership.team, "form": form, "creating": True,
        "callback_url": services.callback_url(),
    }, status=400 if form.is_bound and form.errors else 200)


@login_required
def app_detail(request, team, app):
    membership, app = access.app_for_action(request.user, team, app, TeamAction.MANAGE_APPS)
    return render(request, "orgs/app_detail.html", {
        "membership": membership, "team": membership.team, "app": app, "callback_url": services.callback_url(),
        "secret_form": SecretForm(), "connections": app.connections.select_related("owner")[:100],
    })


@login_required
def app_edit(request, team, app):
    membership, app = access.app_for_action(request.user, team, app, TeamAction.MANAGE_APPS)
    initial = {"name": app.name, "consumer_key": app.consumer_key, "scopes": app.scopes,
               "require_pkce": app.require_pkce, "signing_key": app.signing_key,
               **LoginHostMixin.initial_for(app.login_url)}
    form = ConnectedAppForm(request.POST if request.method == "POST" else None, team=membership.team,
                            creating=False, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.connected_app_update(
                actor=membership, app=app, name=data["name"], consumer_key=data["consumer_key"],
                login_url=data["login_url"], scopes=data["scopes"], require_pkce=data["require_pkce"],
                signing_key=data["signing_key"], ip=client_ip(request))
        except services.ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Saved.")
            return redirect("orgs:app_detail", team=membership.team.code, app=app.code)
    return render(request, "orgs/app_form.html", {
        "membership": membership, "team": membership.team, "form": form, "app": app, "creating": False,
        "callback_url": services.callback_url(),
    }, status=400 if form.is_bound and form.errors else 200)


@sensitive_variables()
@login_required
@require_POST
@sensitive_post_parameters(*SECRET_FIELDS)
@recent_authentication_required
def app_secret(request, team, app):
    """Staged consumer-secret rotation: stage, confirm, or discard."""
    membership, app = access.app_for_action(request.user, team, app, TeamAction.MANAGE_APPS)
    action = request.POST.get("action")
    try:
        if action == "stage":
            form = SecretForm(request.POST)
            if not form.is_valid():
                raise services.ServiceError("Enter the new consumer secret.")
            services.connected_app_stage_secret(actor=membership, app=app, secret=form.cleaned_data["secret"],
                                                ip=client_ip(request))
            messages.success(request, "New secret staged. The old one stays in use until you confirm the new one "
                                      "works (or the portal's first successful use of it confirms it).")
        elif action == "confirm":
            services.connected_app_confirm_secret(actor=membership, app=app, ip=client_ip(request))
            messages.success(request, "The new consumer secret is now the only one in use.")
        elif action == "discard":
            services.connected_app_discard_secret(actor=membership, app=app, ip=client_ip(request))
            messages.success(request, "The staged secret was discarded; the current one stays in use.")
        else:
            raise services.ServiceError("Unknown action.")
    except services.ServiceError as exc:
        messages.error(request, str(exc))
    return redirect("orgs:app_detail", team=membership.team.code, app=app.code)


@login_required
def app_delete(request, team, app):
    membership, app = access.app_for_action(request.user, team, app, TeamAction.MANAGE_APPS)
    if request.method == "POST":
        try:
            services.connected_app_delete(actor=membership, app=app, ip=client_ip(request))
        except services.ServiceError as exc:
            messages.error(request, str(exc))
            return redirect("orgs:app_detail", team=membership.team.code, app=app.code)
        messages.success(request, f"Connected app “{app.name}” deleted.")
        return redirect("orgs:app_list", team=membership.team.code)
    return render(request, "orgs/confirm_delete.html", {
        "membership": membership, "team": membership.team, "object": app, "what": "connected app",
        "blockers": [f"{c.username} (owner {c.owner.email})" for c in app.connections.select_related("owner")],
    })


# -- signing keys ------------------------------------------------------------------------------------------------------

@login_required
def key_list(request, team):
    membership = access.membership_for_action(request.user, team, TeamAction.MANAGE_KEYS)
    return render(request, "orgs/key_list.html", {
        "membership": membership, "team": membership.team,
        "keys": SigningKey.objects.filter(team=membership.team).prefetch_related("apps"),
    })


@sensitive_variables()
@login_required
@sensitive_post_parameters(*SECRET_FIELDS)
@recent_authentication_required
def key_upload(request, team):
    membership = access.membership_for_action(request.user, team, TeamAction.MANAGE_KEYS)
    form = KeyUploadForm(*((request.POST, request.FILES) if request.method == "POST" else ()))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data["private_key_bytes"] is not None and data["certificate_bytes"] is not None:
            try:
                key = services.signing_key_upload(
                    actor=membership, name=data["name"], private_key=data["private_key_bytes"],
                    certificate=data["certificate_bytes"], passphrase=data.get("passphrase") or None,
                    ip=client_ip(request))
            except services.ServiceError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Signing key “{key.name}” stored.")
                return redirect("orgs:key_detail", team=membership.team.code, key=key.code)
    return render(request, "orgs/key_upload.html", {"membership": membership, "team": membership.team,
                                                    "form": form},
                  status=400 if form.is_bound and form.errors else 200)


@sensitive_variables()
@login_required
@recent_authentication_required
def key_generate(request, team):
    membership = access.membership_for_action(request.user, team, TeamAction.MANAGE_KEYS)
    form = KeyGenerateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            key = services.signing_key_generate(
                actor=membership, name=data["name"], common_name=data["common_name"], key_size=data["key_size"],
                validity_days=data["validity_days"], ip=client_ip(request))
        except services.ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Signing key “{key.name}” generated. Download its certificate and upload "
                                      "it to the connected app in Salesforce.")
            return redirect("orgs:key_detail", team=membership.team.code, key=key.code)
    return render(request, "orgs/key_generate.html", {"membership": membership, "team": membership.team,
                                                      "form": form},
                  status=400 if form.is_bound and form.errors else 200)


@login_required
def key_detail(request, team, key):
    membership, key = access.signing_key_for_action(request.user, team, key)
    return render(request, "orgs/key_detail.html", {"membership": membership, "team": membership.team,
                                                    "key": key, "apps": key.apps.all()})


@login_required
def key_certificate(request, team, key):
    """The public certificate, to upload to the Salesforce app. The private key is never downloadable."""
    membership, key = access.signing_key_for_action(request.user, team, key)
    response = HttpResponse(key.certificate_pem, content_type="application/x-x509-ca-cert")
    response["Content-Disposition"] = f'attachment; filename="{slugify(key.name) or "certificate"}.crt"'
    return response


@login_required
def key_delete(request, team, key):
    membership, key = access.signing_key_for_action(request.user, team, key)
    if request.method == "POST":
        try:
            services.signing_key_delete(actor=membership, key=key, ip=client_ip(request))
        except services.ServiceError as exc:
            messages.error(request, str(exc))
            return redirect("orgs:key_detail", team=membership.team.code, key=key.code)
        messages.success(request, f"Signing key “{key.name}” deleted.")
        return redirect("orgs:key_list", team=membership.team.code)
    return render(request, "orgs/confirm_delete.html", {
        "membership": membership, "team": membership.team, "object": key, "what": "signing key",
        "blockers": [app.name for app in key.apps.all()],
    })


