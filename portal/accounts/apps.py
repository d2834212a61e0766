from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "portal.accounts"
    label = "accounts"
    verbose_name = "People and teams"

    def ready(self):
        from portal.accounts import receivers

        receivers.connect()
