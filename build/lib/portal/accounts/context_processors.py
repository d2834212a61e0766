from portal.accounts.access import team_permissions
from portal.accounts.models import Membership

CURRENT_TEAM_SESSION_KEY = "portal_current_team"


def portal(request):
    """The signed-in user's teams for the navigation bar's team switcher (one query), and what the bar may offer."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    memberships = list(Membership.objects.filter(user=user).select_related("team").order_by("team__name"))
    current_code = request.session.get(CURRENT_TEAM_SESSION_KEY)
    current = next((m for m in memberships if str(m.team.code) == current_code), None)
    if current is None and memberships:
        current = memberships[0]
    return {"nav_memberships": memberships, "nav_current_membership": current,
            "nav_perms": team_permissions(current) if current else {}}


def remember_team(request, membership: Membership) -> None:
    """The team the navigation bar shows next time."""
    request.session[CURRENT_TEAM_SESSION_KEY] = str(membership.team.code)
