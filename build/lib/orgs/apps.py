from django.apps import AppConfig


class OrgsConfig(AppConfig):
    name = "orgs"
    verbose_name = "Salesforce orgs"

    def ready(self) -> None:
        # The people side's signals (portal.accounts.signals): writes that take access away (revoke the tokens
        # already handed out) and writes that may add access (create the members' org aliases).
        from orgs.services.revocation import on_access_reducing
        from portal.accounts.signals import access_reducing, member_access_changed

        access_reducing.connect(on_access_reducing, dispatch_uid="orgs.revoke_tokens_after_access_reduced")
        member_access_changed.connect(_aliases_for_changed_members, dispatch_uid="orgs.aliases_for_changed_members")


def _aliases_for_changed_members(sender, *, team, user_ids, **kwargs):
    """A role change or a new member: aliases for every org they now reach, in the same transaction."""
    from orgs.services.connections import aliases_ensure

    aliases_ensure(team=team, user_ids=user_ids)
