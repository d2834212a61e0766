from django.apps import AppConfig


class OrgsConfig(AppConfig):
    name = "orgs"
    verbose_name = "Salesforce orgs"

    def ready(self):
        from portal.accounts.services import member_access_changed

        member_access_changed.connect(_aliases_for_changed_members, dispatch_uid="orgs.aliases_for_changed_members")


def _aliases_for_changed_members(sender, *, team, user_ids, **kwargs):
    """A role change or a new member: aliases for every org they now reach, in the same transaction."""
    from orgs.services.connections import aliases_ensure

    aliases_ensure(team=team, user_ids=user_ids)
