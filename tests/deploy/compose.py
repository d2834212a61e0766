"""docker-compose.yml as `docker compose` reads it, without Docker: YAML (with merge keys), then interpolation.

No Docker engine or compose plugin runs on these machines, so this implements the interpolation rules of the
Compose specification that the file uses: `$$` (a literal `$`), `$VAR`, `${VAR}`, `${VAR:-default}`,
`${VAR-default}`, `${VAR:?message}` and `${VAR?message}`. Anything else is refused, so the file cannot start using
syntax these tests would misread.
"""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
COMPOSE = ROOT / "docker-compose.yml"
INIT_SCRIPT = ROOT / "deploy" / "postgres" / "10-portal-roles.sh"

_TOKEN = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*)|(?P<bad>))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>.*))?", re.S)


class MissingVariableError(Exception):
    """What `docker compose` reports for `${VAR:?message}` when VAR is unset or empty: it refuses to run."""

    def __init__(self, name: str, message: str):
        super().__init__(f"required variable {name} is missing a value: {message}")
        self.name = name


def references(text: str) -> list[tuple[str, str | None, str]]:
    """Every `${...}` in TEXT as (name, operator or None, argument)."""
    found = []
    for match in _TOKEN.finditer(text):
        if match["braced"] is not None:
            parsed = _BRACED.fullmatch(match["braced"])
            if not parsed:
                raise ValueError(f"unsupported interpolation ${{{match['braced']}}}")
            found.append((parsed["name"], parsed["op"], parsed["arg"] or ""))
    return found


def _substitute(text: str, env: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return env.get(match["named"], "")
        if match["braced"] is None:
            raise ValueError(f"a lone $ in {text!r} (write $$)")
        parsed = _BRACED.fullmatch(match["braced"])
        if not parsed:
            raise ValueError(f"unsupported interpolation ${{{match['braced']}}}")
        name, op, arg = parsed["name"], parsed["op"], parsed["arg"] or ""
        value = env.get(name)
        missing = value is None or (op is not None and op.startswith(":") and value == "")
        if op is None:
            return value or ""
        if op.endswith("-"):
            return arg if missing else value
        if missing:
            raise MissingVariableError(name, arg)
        return value

    return _TOKEN.sub(replace, text)


def interpolate(node, env: dict[str, str]):
    if isinstance(node, str):
        return _substitute(node, env)
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    return node


def raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def load(env: dict[str, str]) -> dict:
    """The compose model after interpolation with ENV (raises MissingVariableError as compose would)."""
    return interpolate(raw(), env)


def all_strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from all_strings(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from all_strings(value)


def required_variables() -> set[str]:
    return {name for text in all_strings(raw()) for name, op, _ in references(text) if op in {":?", "?"}}


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as compose reads an env file (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path}: not KEY=VALUE: {line!r}"
        values[key.strip()] = value.strip()
    return values
