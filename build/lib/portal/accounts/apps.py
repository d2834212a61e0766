from django.apps import AppConfig
from django.core import checks


class AccountsConfig(AppConfig):
    name = "portal.accounts"
    label = "accounts"
    verbose_name = "People and teams"

    def ready(self):
        from portal.accounts import receivers

        receivers.connect()
        checks.register(keyring_check, checks.Tags.database)


def keyring_check(app_configs=None, databases=None, **kwargs):
    """`migrate` and `check --database default`: the keyring decrypts this database's known-answer values."""
    if not databases:
        return []
    from portal.accounts.keycheck import KeyringCheckError, keyring_verify

    try:
        keyring_verify()
    except KeyringCheckError as exc:
        return [checks.Critical(str(exc), id="accounts.E001")]
    return []
