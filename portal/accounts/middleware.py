"""Activates the signed-in user's time zone (User.time_zone) for the request, so pages show their local time.

Placed after AuthenticationMiddleware, and so after orgs.api.middleware's shortcut: the REST API never pays for it.
Emails are rendered in UTC whatever is active here (portal/accounts/mail.py)."""

from django.utils import timezone

from portal.lib.timezones import DEFAULT, zone


class UserTimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        name = getattr(user, "time_zone", DEFAULT) if user is not None and user.is_authenticated else DEFAULT
        if name and name != DEFAULT:
            timezone.activate(zone(name))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
