"""`orgportal`: the Org Portal command line (standard library only; no Django). Reference: ../../README.md.

    orgportal login URL [--oidc]     store the portal URL and an API token (or, in CI, exchange the job's OIDC token)
    orgportal logout                 forget the stored URL, token and settings
    orgportal whoami                 who the token acts as: team, token kind, expiry
    orgportal orgs                   the orgs you can target
    orgportal env [ORG] [--format posix|fish|powershell|dotenv|github]
                                     SF_ACCESS_TOKEN, SF_ORG_INSTANCE_URL, SF_TARGET_ORG for a shell or $GITHUB_ENV
    orgportal open [ORG] [--url-only]
                                     a single-use Salesforce login URL, opened in the browser (or printed)
    orgportal sf-login [ORG]         `sf org login access-token` with a fresh token (in the environment, never argv)
    orgportal sandbox create|refresh|status|delete PROD NAME
    orgportal config set|get|unset target-org [ALIAS]
                                     the default ORG ($ORGPORTAL_TARGET_ORG overrides it)
    orgportal --version

Every command accepts --json and then answers on stdout with one envelope, errors included:
{"status": 0, "result": …, "warnings": []} or {"status": N, "exitCode": N, "name": …, "message": …, "warnings": []},
N being the exit code (EXIT_CODES). 429 and 503 answers are retried, honouring Retry-After, within bounds
(ORGPORTAL_RETRIES, ORGPORTAL_RETRY_MAX_WAIT). In CI set ORGPORTAL_URL and ORGPORTAL_TOKEN instead of logging in.
ORGPORTAL_CONFIG moves the config file; ORGPORTAL_SF names the `sf` command (default: `sf` on PATH).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import webbrowser
from pathlib import Path

from orgportal import __version__

TIMEOUT_SECONDS = 30

EXIT_ERROR, EXIT_USAGE, EXIT_AUTH, EXIT_ACCESS, EXIT_REAUTH, EXIT_RATE, EXIT_UNAVAILABLE = 1, 2, 3, 4, 5, 6, 7
EXIT_DENIED = 8  # an access request denied, lapsed or not decided within --wait-minutes
EXIT_WAIT_EXHAUSTED = 68  # as `sf org create|refresh sandbox` when the wait runs out
EXIT_INTERRUPTED = 130

# exit code → (error name in the --json envelope, meaning); the README's table is this one.
EXIT_CODES = {
    0: ("", "success"),
    EXIT_ERROR: ("OrgPortalError", "any other error (an unexpected answer, a redirect refused, sf failed)"),
    EXIT_USAGE: ("UsageError", "bad command line or input (unknown option, not a portal URL, http to a remote host)"),
    EXIT_AUTH: ("AuthenticationError", "not logged in, or the token/CI identity was refused (401)"),
    EXIT_ACCESS: ("AccessError", "no such org among those you can see (404), or below the level needed (403)"),
    EXIT_REAUTH: ("NeedsReauthorization", "the org's connection needs re-authorization in the portal (409)"),
    EXIT_RATE: ("RateLimited", "rate limited (429), still after the retries"),
    EXIT_UNAVAILABLE: ("Unavailable", "portal or Salesforce unreachable (503 after the retries, network errors)"),
    EXIT_DENIED: ("AccessRequestNotGranted", "an access request was denied, lapsed, or not decided within the wait"),
    EXIT_WAIT_EXHAUSTED: ("WaitExhausted", "the wait for a sandbox ran out (it goes on in the portal)"),
    EXIT_INTERRUPTED: ("Interrupted", "interrupted (Ctrl-C)"),
}

_ADVICE = {
    401: (EXIT_AUTH, "The portal refused the API token (unknown, expired or revoked). Create a new one under "
                     "API tokens and run `orgportal login URL` again."),
    403: (EXIT_ACCESS, "You can see this org but not target it. Ask someone who manages it to share it with you "
                       "at target level."),
    404: (EXIT_ACCESS, "No such org among those you can see. `orgportal orgs` lists them (by alias, username or "
                       "org id)."),
    409: (EXIT_REAUTH, "The org's connection needs re-authorization: reconnect it in the portal (Orgs → Reconnect)."),
    429: (EXIT_RATE, "Too many requests for this API token."),
    503: (EXIT_UNAVAILABLE, "Salesforce is unreachable right now; try again in a moment."),
}


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_ERROR):
        super().__init__(message)
        self.code = code


def _int_env(name: str, default: int) -> int:
    try:
        return max(0, int(os.environ.get(name) or default))
    except ValueError:
        return default


# -- configuration ---------------------------------------------------------------------------------------------------

def config_path() -> Path:
    if os.environ.get("ORGPORTAL_CONFIG"):
        return Path(os.environ["ORGPORTAL_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "orgportal" / "config.json"


def read_config() -> dict:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CliError(f"Cannot read {path}: {exc}. Run `orgportal login URL` again.") from None
    return data if isinstance(data, dict) else {}


def write_config(data: dict) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    os.chmod(tmp, 0o600)  # also when the file already existed with a wider mode
    os.replace(tmp, path)
    return path


def save_config(url: str, token: str) -> Path:
    try:
        kept = {k: v for k, v in read_config().items() if k not in ("url", "token")}
    except CliError:
        kept = {}
    return write_config({"url": url, "token": token, **kept})


def load_config() -> tuple[str, str]:
    url, token = os.environ.get("ORGPORTAL_URL"), os.environ.get("ORGPORTAL_TOKEN")
    if not (url and token):
        data = read_config()
        url, token = url or data.get("url"), token or data.get("token")
    if not url or not token:
        raise CliError("Not logged in: run `orgportal login URL` (or set ORGPORTAL_URL and ORGPORTAL_TOKEN).",
                       EXIT_AUTH)
    return normalise_url(url), token


CONFIG_KEYS = {"target-org": "ORGPORTAL_TARGET_ORG"}


def target_org(given: str | None) -> str:
    """The org a command acts on: the argument, else $ORGPORTAL_TARGET_ORG, else `config set target-org`."""
    value = given or os.environ.get(CONFIG_KEYS["target-org"]) or read_config().get("target-org")
    if not value:
        raise CliError("Name an org (alias, username or org id), or set a default: "
                       "`orgportal config set target-org ALIAS`.", EXIT_USAGE)
    return value


def normalise_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(f"Not a portal URL: {url!r} (expected e.g. https://portal.example.com).", EXIT_USAGE)
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise CliError("Use https: an API token must not travel in clear text (http only for localhost).",
                       EXIT_USAGE)
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


# -- the API ---------------------------------------------------------------------------------------------------------

class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would repeat the request, Authorization header included, at whatever address a redirect names (another
    host, or http after https). The API never redirects, so any redirect is an error and is never followed."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        fp.close()
        raise CliError(f"The portal answered HTTP {code} with a redirect to {newurl}; orgportal never follows a "
                       "redirect with your API token. Check the portal URL (`orgportal login URL` with the final "
                       "https address).")


_opener = urllib.request.build_opener(_RefuseRedirects)


def retry_delay(status: int, retry_after: str | None, attempt: int) -> float | None:
    """Seconds to wait before retrying a 429/503, or None when not to retry: after ORGPORTAL_RETRIES attempts
    (default 3), or when the wait asked for (Retry-After, else 1, 2, 4 … s for a 503) exceeds
    ORGPORTAL_RETRY_MAX_WAIT (default 30 s)."""
    if status not in (429, 503) or attempt >= _int_env("ORGPORTAL_RETRIES", 3):
        return None
    try:
        delay = float(retry_after) if retry_after is not None else (None if status == 429 else 2.0 ** attempt)
    except ValueError:
        delay = None  # an HTTP date, or garbage: do not guess
    if delay is None or delay < 0 or delay > _int_env("ORGPORTAL_RETRY_MAX_WAIT", 30):
        return None
    return delay


def api(url: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
               "User-Agent": f"orgportal-cli/{__version__}"}
    data = b"" if method == "POST" else None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    attempt = 0
    while True:
        request = urllib.request.Request(  # noqa: S310 (normalise_url allows http/https only)
            f"{url}/api/v1/{path}", method=method, data=data, headers=headers)
        try:
            with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 (http/https only)
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            delay = retry_delay(exc.code, exc.headers.get("Retry-After"), attempt)
            if delay is None:
                raise _api_error(exc) from None
            exc.close()
            attempt += 1
            time.sleep(delay)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CliError(f"Cannot reach the portal at {url}: {reason}.", EXIT_UNAVAILABLE) from None
        except ValueError:
            raise CliError(f"The portal at {url} did not answer with JSON: is this the portal's URL?") from None


def _api_error(exc: urllib.error.HTTPError) -> CliError:
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        body = {}
    message = (body.get("message") or body.get("detail")) if isinstance(body, dict) else None
    code, advice = _ADVICE.get(exc.code, (EXIT_ERROR, f"The portal answered HTTP {exc.code}."))
    if isinstance(body, dict) and body.get("error") == "access_on_request":
        advice = "This org needs a time-boxed access request: `orgportal access request ORG --reason … --wait`."
    if exc.code == 429:
        advice += f" Retry in {exc.headers.get('Retry-After', '60')} s."
    text = f"{message}\n{advice}" if message and exc.code != 401 else advice
    if exc.code == 404 and not (isinstance(body, dict) and "error" in body):
        text = "The portal has no API at this URL: check the URL given to `orgportal login`."
    return CliError(f"error {exc.code}: {text}", code)


def _org_path(ident: str, tail: str = "") -> str:
    return f"orgs/{urllib.parse.quote(ident, safe='')}" + (f"/{tail}" if tail else "")


def access_token(alias: str) -> dict:
    url, token = load_config()
    return api(url, token, "POST", _org_path(alias, "access-token"))


# -- output ----------------------------------------------------------------------------------------------------------

def emit(args, result, text: str | None = None) -> int:
    """--json: the success envelope on stdout; otherwise `text` (if any)."""
    if getattr(args, "json", False):
        print(json.dumps({"status": 0, "result": result, "warnings": []}, indent=2, ensure_ascii=False))
    elif text is not None:
        print(text)
    return 0


def error_envelope(exc: CliError) -> dict:
    name = EXIT_CODES.get(exc.code, EXIT_CODES[EXIT_ERROR])[0] or "OrgPortalError"
    return {"status": exc.code, "exitCode": exc.code, "name": name, "message": str(exc), "warnings": []}


# -- OIDC (CI jobs) -------------------------------------------------------------------------------------------------

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
PORTAL_TOKEN_TYPE = "urn:orgportal:token-type:api-token"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Credentials never follow a redirect: a 3xx is an error."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} refused", headers, fp)


_OPENER = urllib.request.build_opener(_NoRedirects)


def ci_id_token(*, audience: str, env_name: str) -> str:
    """The running CI job's OIDC ID token for `audience`: GitHub Actions asks its token service; GitLab (and any CI
    that puts the token in a variable) reads `env_name`."""
    if os.environ.get(env_name):
        return os.environ[env_name].strip()
    request_url, request_token = (os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL"),
                                  os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
    if request_url and request_token:
        separator = "&" if "?" in request_url else "?"
        request = urllib.request.Request(  # noqa: S310 (the runner's own URL)
            f"{request_url}{separator}audience={urllib.parse.quote(audience, safe='')}",
            headers={"Authorization": f"bearer {request_token}", "Accept": "application/json"})
        try:
            with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
                value = json.loads(response.read()).get("value")
        except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError, AttributeError) as exc:
            raise CliError(f"Could not get the job's ID token from GitHub Actions: {exc}. Does the job have "
                           "`permissions: id-token: write`?", EXIT_AUTH) from None
        if not value:
            raise CliError("GitHub Actions returned no ID token.", EXIT_AUTH)
        return value
    raise CliError(f"No CI ID token found: in GitHub Actions give the job `permissions: id-token: write`; in GitLab "
                   f"add `id_tokens: {{{env_name}: {{aud: <portal URL>}}}}` to the job.", EXIT_USAGE)


def oidc_exchange(url: str, id_token: str) -> dict:
    """POST /api/v1/oauth/token (RFC 8693) for a short-lived portal API token."""
    body = urllib.parse.urlencode({"grant_type": TOKEN_EXCHANGE, "subject_token": id_token,
                                   "subject_token_type": ID_TOKEN_TYPE,
                                   "requested_token_type": PORTAL_TOKEN_TYPE}).encode()
    request = urllib.request.Request(  # noqa: S310 (normalise_url allows http/https only)
        f"{url}/api/v1/oauth/token", data=body, method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
                 "User-Agent": "orgportal-cli"})
    try:
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read() or b"{}")
        except ValueError:
            error = {}
        raise CliError(f"The portal refused the CI identity ({error.get('error', exc.code)}): "
                       f"{error.get('error_description', '')} An admin can check why on the team's audit log and "
                       "try the token on the trust policy's page.", EXIT_AUTH) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise CliError(f"Cannot reach the portal at {url}: {getattr(exc, 'reason', exc)}.", EXIT_UNAVAILABLE) from None


# -- commands --------------------------------------------------------------------------------------------------------

def cmd_login(args) -> int:
    url = normalise_url(args.url)
    if args.oidc:
        answer = oidc_exchange(url, ci_id_token(audience=args.audience or url, env_name=args.id_token_env))
        path = save_config(url, answer["access_token"])
        orgs = api(url, answer["access_token"], "GET", "orgs")["orgs"]
        return emit(args, {"url": url, "orgs": len(orgs), "expires_in": answer.get("expires_in"), "config": str(path)},
                    f"Logged in to {url} with this job's CI identity for {answer.get('expires_in', '?')} s; "
                    f"{len(orgs)} org(s) you can target. Token saved in {path} (mode 600).")
    token = os.environ.get("ORGPORTAL_TOKEN") if not args.token_stdin else None
    if args.token_stdin:
        token = sys.stdin.readline().strip()
    if not token:
        token = getpass.getpass("API token (from the portal's API tokens page): ").strip()
    if not token.startswith("op_"):
        raise CliError("That is not a portal API token (they start with op_).", EXIT_USAGE)
    orgs = api(url, token, "GET", "orgs")["orgs"]
    path = save_config(url, token)
    return emit(args, {"url": url, "orgs": len(orgs), "config": str(path)},
                f"Logged in to {url}; {len(orgs)} org(s) you can target. Token saved in {path} (mode 600).")


def cmd_logout(args) -> int:
    path = config_path()
    existed = path.exists()
    path.unlink(missing_ok=True)
    return emit(args, {"config": str(path), "removed": existed},
                f"Logged out: {path} removed." if existed else "Not logged in (no stored configuration).")


def cmd_whoami(args) -> int:
    url, token = load_config()
    me = api(url, token, "GET", "me")
    who = me.get("user", {}).get("email") if me.get("user") else f"service token “{me['token']['name']}”"
    expiry = me["token"].get("expires_at") or "never"
    return emit(args, {**me, "url": url},
                f"{who} in team {me['team']['name']} at {url} ({me['token']['kind']} token, expires {expiry})")


def _all_orgs(url: str, token: str) -> list[dict]:
    orgs, path = [], "orgs"
    while path:
        page = api(url, token, "GET", path)
        orgs.extend(page["orgs"])
        cursor = page.get("next_cursor")
        path = f"orgs?{urllib.parse.urlencode({'cursor': cursor})}" if cursor else ""
    return orgs


def cmd_orgs(args) -> int:
    url, token = load_config()
    orgs = _all_orgs(url, token)
    if args.json or not orgs:
        return emit(args, orgs, "No orgs you can target yet.")
    header = ("ALIAS", "USERNAME", "ORG ID", "TYPE", "STATUS", "DEFAULT")
    rows = [(o["alias"] or "-", o["username"], o["org_id"], o["type"], o["status"],
             ",".join(f for f, on in (("org", o["is_default_org"]), ("devhub", o["is_default_devhub"])) if on) or "-")
            for o in orgs]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return 0


ENV_FORMATS = ("posix", "fish", "powershell", "dotenv", "github")


def _single_line(name: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        raise CliError(f"{name} has a line break; refusing to write it as an environment line.")
    return value


def env_lines(variables: dict[str, str], fmt: str) -> list[str]:
    """The variables in a shell's syntax (quoted so that no value can run a command)."""
    if fmt == "posix":
        return [f"export {k}={shlex.quote(v)}" for k, v in variables.items()]
    if fmt == "fish":
        return ["set -gx {} '{}';".format(k, v.replace("\\", "\\\\").replace("'", "\\'"))
                for k, v in variables.items()]
    if fmt == "powershell":
        return ["$env:{} = '{}'".format(k, v.replace("'", "''")) for k, v in variables.items()]
    if fmt == "dotenv":
        return ['{}="{}"'.format(k, _single_line(k, v).replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$"))
                for k, v in variables.items()]
    return [f"{k}={_single_line(k, v)}" for k, v in variables.items()]  # github: KEY=value lines for $GITHUB_ENV


def cmd_env(args) -> int:
    alias = target_org(args.alias)
    issued = access_token(alias)
    variables = {"SF_ACCESS_TOKEN": issued["access_token"], "SF_ORG_INSTANCE_URL": issued["instance_url"],
                 "SF_TARGET_ORG": alias}
    if args.format == "github":
        target = os.environ.get("GITHUB_ENV")
        if not target:
            raise CliError("--format github appends to the file named by $GITHUB_ENV, which is not set (run it in a "
                           "GitHub Actions step).", EXIT_USAGE)
        print(f"::add-mask::{issued['access_token']}")  # before the value can reach any log line
        with open(target, "a", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in env_lines(variables, "github")))
        if args.json:
            return emit(args, {"written": sorted(variables), "file": target})
        print(f"Wrote {', '.join(sorted(variables))} to $GITHUB_ENV for the next steps.", file=sys.stderr)
        return 0
    return emit(args, variables, "\n".join(env_lines(variables, args.format)))


def cmd_open(args) -> int:
    alias = target_org(args.alias)
    url, token = load_config()
    answer = api(url, token, "POST", _org_path(alias, "open"))
    if args.json or args.url_only or not webbrowser.open(answer["url"]):
        return emit(args, answer, answer["url"])
    print(f"Opened {alias} in your browser (the link works once).", file=sys.stderr)
    return 0


def cmd_config(args) -> int:
    key, env_name = args.key, CONFIG_KEYS[args.key]
    if args.op == "get":
        if os.environ.get(env_name):
            value, source = os.environ[env_name], f"${env_name}"
        else:
            value, source = read_config().get(key), str(config_path())
        return emit(args, {"key": key, "value": value, "source": source if value else None},
                    value if value else f"{key} is not set.")
    data = read_config()
    if args.op == "set":
        if not args.value:
            raise CliError(f"Give a value: `orgportal config set {key} VALUE`.", EXIT_USAGE)
        data[key] = args.value
    else:
        data.pop(key, None)
    path = write_config(data)
    return emit(args, {"key": key, "value": data.get(key), "config": str(path)},
                f"{key} = {args.value} (in {path})" if args.op == "set" else f"{key} unset.")


def sf_command() -> list[str]:
    return shlex.split(os.environ.get("ORGPORTAL_SF") or "sf")


def cmd_sf_login(args) -> int:
    alias = target_org(args.alias)
    issued = access_token(alias)
    command = [*sf_command(), "org", "login", "access-token", "--instance-url", issued["instance_url"],
               "--no-prompt", "--alias", alias]
    if args.set_default:
        command.append("--set-default")
    if args.json:
        command.append("--json")  # sf's own envelope on stdout
    env = {**os.environ, "SF_ACCESS_TOKEN": issued["access_token"]}
    try:
        result = subprocess.run(command, env=env, check=False)  # noqa: S603 (the user's own sf command)
    except FileNotFoundError:
        raise CliError("The Salesforce CLI (`sf`) is not installed or not on PATH (set ORGPORTAL_SF to its "
                       "command).") from None
    if result.returncode != 0:
        if args.json:  # sf printed its envelope already
            return result.returncode
        raise CliError(f"`sf org login access-token` failed (exit {result.returncode}).", result.returncode)
    if not args.json:
        print(f"sf can now target {alias} ({issued['username']}): sf data query --target-org {alias} …",
              file=sys.stderr)
    return 0


def _sandbox_path(production: str, name: str = "") -> str:
    path = f"orgs/{urllib.parse.quote(production, safe='')}/sandboxes"
    return f"{path}/{urllib.parse.quote(name, safe='')}" if name else path


def _progress_line(sandbox: dict) -> str:
    status = sandbox.get("status") or "Requested"
    progress = sandbox.get("copy_progress")
    if progress is not None and status != "Completed":
        status += f" {progress} %"
    elapsed = sandbox.get("elapsed_seconds")
    clock = f" · {elapsed // 60:02d}:{elapsed % 60:02d} elapsed" if isinstance(elapsed, int) else ""
    state = sandbox.get("state_label") or sandbox.get("state") or ""
    return f"{sandbox['name']}: {state} · {status}{clock}"


def _wait(url: str, token: str, production: str, sandbox: dict, minutes: float, quiet: bool) -> dict:
    interval = float(os.environ.get("ORGPORTAL_POLL_SECONDS") or 5)
    deadline = time.monotonic() + minutes * 60
    tty = sys.stderr.isatty()
    while sandbox.get("in_progress") or sandbox.get("state") == "requested":
        if not quiet:
            print(("\r" if tty else "") + _progress_line(sandbox), end="" if tty else "\n", file=sys.stderr,
                  flush=True)
        if time.monotonic() >= deadline:
            if not quiet and tty:
                print(file=sys.stderr)
            raise CliError(f"The wait for the sandbox {sandbox['name']} ran out; it goes on in the portal. Check "
                           f"with `orgportal sandbox status {production} {sandbox['name']}`.", EXIT_WAIT_EXHAUSTED)
        time.sleep(interval)
        sandbox = api(url, token, "GET", _sandbox_path(production, sandbox["name"]))
    if not quiet and tty:
        print(file=sys.stderr)
    return sandbox




def cmd_sandbox(args) -> int:
    url, token = load_config()
    if args.action == "create":
        body = {"name": args.name, "license_type": args.license_type, "description": args.description or "",
                "alias": args.alias or "", "share": args.share, "auto_activate": not args.no_auto_activate}
        if args.source:
            body["source"] = args.source
        sandbox = api(url, token, "POST", _sandbox_path(args.production), body)
    elif args.action == "refresh":
        sandbox = api(url, token, "POST", _sandbox_path(args.production, args.name) + "/refresh",
                      {"auto_activate": not args.no_auto_activate})
    elif args.action == "status":
        sandbox = api(url, token, "GET", _sandbox_path(args.production, args.name))
    else:
        if not args.no_prompt:
            if not sys.stdin.isatty():
                raise CliError("Deleting needs --no-prompt when not run interactively.", EXIT_USAGE)
            typed = input(f"Type {args.name} to delete the sandbox and its portal connection: ").strip()
            if typed != args.name:
                raise CliError("Not confirmed; nothing was deleted.", EXIT_USAGE)
        query = urllib.parse.urlencode({"confirm": args.name})
        sandbox = api(url, token, "DELETE", f"{_sandbox_path(args.production, args.name)}?{query}")
    if args.action in ("create", "refresh") and not args.no_wait:
        sandbox = _wait(url, token, args.production, sandbox, args.wait, quiet=args.json)
    if sandbox.get("state") == "failed":
        raise CliError(sandbox.get("message") or f"The sandbox {sandbox['name']} failed.", EXIT_ERROR)
    return emit(args, sandbox,
                _progress_line(sandbox) + (f"\n{sandbox['message']}" if sandbox.get("message") else ""))


# -- time-boxed access ---------------------------------------------------------------------------------------------

def _request_line(row: dict) -> str:
    until = f" until {row['expires_at']}" if row.get("expires_at") else ""
    glass = " BREAK-GLASS" if row.get("break_glass") else ""
    return (f"{row['id']}  {row['state']:<9} {row['level']:<7} {row['org']}  {row['requester']}{until}{glass}  "
            f"({row['reason']})")


def cmd_access(args) -> int:
    url, token = load_config()
    as_json = getattr(args, "json", False)
    if args.action == "request":
        body = {"org": args.org, "level": args.level, "minutes": args.minutes, "reason": args.reason,
                "ticket": args.ticket or "", "break_glass": args.break_glass}
        row = api(url, token, "POST", "access-requests", body)
        if args.wait and row["state"] == "pending":
            deadline = time.monotonic() + args.wait_minutes * 60
            if not as_json:
                print(f"Waiting for a decision on {row['id']} …", file=sys.stderr)
            while row["state"] == "pending" and time.monotonic() < deadline:
                time.sleep(args.poll_seconds)
                row = api(url, token, "GET", f"access-requests/{row['id']}")
        if args.wait and row["state"] in ("denied", "lapsed", "pending"):
            raise CliError(f"Access request {row['id']} is {row['state']}: " + _request_line(row), EXIT_DENIED)
    elif args.action == "status":
        if not args.id:
            rows = api(url, token, "GET", "access-requests")
            text = "\n".join([_request_line(r) for r in rows["requests"]]
                             + ["TO DECIDE  " + _request_line(r) for r in rows["to_decide"]])
            return emit(args, rows, text)
        row = api(url, token, "GET", f"access-requests/{urllib.parse.quote(args.id, safe='')}")
    else:
        row = api(url, token, "POST", f"access-requests/{urllib.parse.quote(args.id, safe='')}/{args.action}")
    return emit(args, row, _request_line(row))


# -- shell completions ---------------------------------------------------------------------------------------------

def cmd_completions(args) -> int:
    """The script generated when this copy was built (wheel, zipapp), else generated from the parser now."""
    from importlib import resources

    shipped = resources.files("orgportal") / "share" / f"orgportal.{args.shell}"
    if shipped.is_file():
        script = shipped.read_text(encoding="utf-8")
    else:  # a source checkout (editable install): nothing was built
        from orgportal.completions import generate

        script = generate(args.shell)
    return emit(args, {"shell": args.shell, "script": script}, script.rstrip("\n"))


# -- the parser ------------------------------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """Usage errors become CliError(EXIT_USAGE), so --json answers them in the envelope too."""

    def error(self, message):
        raise CliError(f"{self.prog}: {message}", EXIT_USAGE)


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="answer with one JSON envelope on stdout: {status, result} or {status, name, message}")
    top = _Parser(prog="orgportal", description="Access tokens for the orgs you may target.", parents=[common])
    top.add_argument("--version", action="version", version=f"orgportal {__version__}")
    commands = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name, func, text, **kwargs):
        sub = commands.add_parser(name, help=text, description=text, parents=[common], **kwargs)
        sub.set_defaults(func=func)
        return sub

    login = command("login", cmd_login, "store the portal URL and an API token")
    login.add_argument("url")
    login.add_argument("--token-stdin", action="store_true", help="read the token from standard input")
    login.add_argument("--oidc", action="store_true", help="in CI: exchange the job's OIDC ID token (no stored secret)")
    login.add_argument("--audience", help="the audience to request for the ID token (default: the portal URL)")
    login.add_argument("--id-token-env", default="ORGPORTAL_ID_TOKEN",
                       help="the variable holding the ID token (GitLab id_tokens; default ORGPORTAL_ID_TOKEN)")
    command("logout", cmd_logout, "forget the stored portal URL, token and settings")
    command("whoami", cmd_whoami, "who the API token acts as: team, token kind, expiry")
    command("orgs", cmd_orgs, "list the orgs you can target")
    env = command("env", cmd_env, "environment variables for an org: eval \"$(orgportal env ALIAS)\"")
    env.add_argument("alias", nargs="?", help="alias, username or org id (default: config target-org)")
    env.add_argument("--format", choices=ENV_FORMATS, default="posix",
                     help="posix (default), fish, powershell, dotenv, or github (appends to $GITHUB_ENV, masked)")
    open_ = command("open", cmd_open, "open an org in the browser with a single-use login URL")
    open_.add_argument("alias", nargs="?", help="alias, username or org id (default: config target-org)")
    open_.add_argument("--url-only", action="store_true", help="print the URL instead of opening a browser")
    sf_login = command("sf-login", cmd_sf_login, "log the Salesforce CLI in to an org with a fresh token")
    sf_login.add_argument("alias", nargs="?", help="alias, username or org id (default: config target-org)")
    sf_login.add_argument("--set-default", action="store_true", help="also make it sf's target-org")
    completions = command("completions", cmd_completions,
                          "print the shell completion script: orgportal completions bash > …/orgportal")
    completions.add_argument("shell", choices=["bash", "zsh", "fish"])
    config = command("config", cmd_config, "the default org: config set|get|unset target-org [ALIAS]")
    config.add_argument("op", choices=["set", "get", "unset"])
    config.add_argument("key", choices=sorted(CONFIG_KEYS))
    config.add_argument("value", nargs="?")
    sandbox = commands.add_parser("sandbox", help="create, refresh, check or delete a sandbox of a production org",
                                  parents=[common])
    actions = sandbox.add_subparsers(dest="action", required=True, parser_class=_Parser)
    for action, text in (("create", "create a sandbox; the portal connects it for you"),
                         ("refresh", "refresh a sandbox; its connection and alias keep working"),
                         ("status", "a sandbox and the progress of its create/refresh"),
                         ("delete", "delete a sandbox and its portal connection")):
        sub = actions.add_parser(action, help=text, parents=[common])
        sub.add_argument("production", help="the production org: alias, username or org id")
        sub.add_argument("name", help="the sandbox name (1-10 letters or digits)")
        if action in ("create", "refresh"):
            sub.add_argument("--no-wait", action="store_true", help="return once requested")
            sub.add_argument("--wait", type=float, default=30, help="minutes to wait (default 30)")
            sub.add_argument("--no-auto-activate", action="store_true")
        if action == "create":
            sub.add_argument("--license-type", default="DEVELOPER",
                             choices=["DEVELOPER", "DEVELOPER_PRO", "PARTIAL", "FULL"])
            sub.add_argument("--source", help="clone this sandbox (by name) instead of production")
            sub.add_argument("--description")
            sub.add_argument("--alias", help="your alias for the new sandbox (default: its name)")
            sub.add_argument("--share", default="nobody", choices=["nobody", "production"],
                             help="share it with nobody, or as the production org is shared")
        if action == "delete":
            sub.add_argument("--no-prompt", action="store_true", help="do not ask to type the name")
        sub.set_defaults(func=cmd_sandbox)
    access = commands.add_parser("access", help="time-boxed access: request, approve, deny, end, revoke, status",
                                 parents=[common])
    verbs = access.add_subparsers(dest="action", required=True, parser_class=_Parser)
    request = verbs.add_parser("request", help="request time-boxed access (or break glass)", parents=[common])
    request.add_argument("org", help="alias, username or org id")
    request.add_argument("--level", default="target", choices=["view", "target", "manage"])
    request.add_argument("--minutes", type=int, default=60)
    request.add_argument("--reason", required=True)
    request.add_argument("--ticket")
    request.add_argument("--break-glass", action="store_true", help="activate without approval (if allowed)")
    request.add_argument("--wait", action="store_true", help="wait for the decision")
    request.add_argument("--wait-minutes", type=float, default=30)
    request.add_argument("--poll-seconds", type=float, default=5)
    request.set_defaults(func=cmd_access)
    for verb in ("approve", "deny", "end", "revoke", "status"):
        sub = verbs.add_parser(verb, help=f"{verb} an access request" if verb != "status" else "show requests",
                               parents=[common])
        sub.add_argument("id", nargs="?" if verb == "status" else None)
        sub.set_defaults(func=cmd_access)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    as_json = "--json" in argv
    if as_json and "--version" in argv:
        print(json.dumps({"status": 0, "result": {"version": __version__}, "warnings": []}))
        return 0
    try:
        args = parser().parse_args(argv)
        args.json = getattr(args, "json", False)
        return args.func(args)
    except CliError as exc:
        if as_json:
            print(json.dumps(error_envelope(exc), indent=2, ensure_ascii=False))
        else:
            print(f"orgportal: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
