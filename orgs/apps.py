from django.apps import AppConfig


class OrgsConfig(AppConfig):
    name = "orgs"
    verbose_name = "Salesforce orgs"

    def ready(self) -> None:
        # The people side signals writes that take access away; this app revokes the tokens already handed out.
        from orgs.services.revocation import on_access_reducing
        from portal.accounts.signals import access_reducing

        access_reducing.connect(on_access_reducing, dispatch_uid="orgs.revoke_tokens_after_access_reduced")
