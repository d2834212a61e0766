from tests.sharing.conftest import shared  # noqa: F401 - the sandbox shared every way, reused here
