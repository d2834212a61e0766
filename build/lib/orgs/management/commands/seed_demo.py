"""Seed the demo team for `make run`: an owner and a member with printed credentials. Idempotent."""

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal.accounts.models import Membership, Team, User

DEMO_USERS = [
    ("owner@demo.example", "demo-owner-pass", Membership.Role.OWNER, "Olivia", "Owner"),
    ("member@demo.example", "demo-member-pass", Membership.Role.MEMBER, "Max", "Member"),
]
DEMO_TEAM = "Demo Team"


class Command(BaseCommand):
    help = "Create (or refresh) the demo team used by `make run`. Development only."

    def add_arguments(self, parser):
        parser.add_argument("--simulator", default="", help="Base URL of the bundled Salesforce simulator")

    @transaction.atomic
    def handle(self, *args, simulator: str = "", **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo only runs with DEBUG=true: it creates accounts with known passwords.")
        team = Team.objects.filter(name=DEMO_TEAM).order_by("pk").first()
        owner = None
        for email, password, role, first, last in DEMO_USERS:
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(email=email, password=password, first_name=first, last_name=last)
            EmailAddress.objects.update_or_create(user=user, email=email,
                                                  defaults={"verified": True, "primary": True})
            if role == Membership.Role.OWNER:
                owner = user
                if team is None:
                    from portal.accounts.services import team_create

                    team = team_create(user=user, name=DEMO_TEAM)
            Membership.objects.get_or_create(team=team, user=user, defaults={"role": role})
        self._seed_salesforce(team=team, owner=owner, simulator=simulator)
        self.stdout.write(self.style.SUCCESS("Demo team ready. Sign in with:"))
        for email, password, role, *_ in DEMO_USERS:
            self.stdout.write(f"    {role:<7} {email:<22} password: {password}")

    def _seed_salesforce(self, *, team, owner, simulator: str) -> None:
        """Hook for the Salesforce side (connected app pointing at the simulator); filled in by the orgs app."""
        try:
            from orgs.demo import seed_demo_salesforce
        except ImportError:
            return
        if simulator:
            seed_demo_salesforce(team=team, owner=owner, simulator_url=simulator, stdout=self.stdout)
