"""`orgportal`: the portal's command-line helper (standard library only; no Django).

    orgportal login URL        store the portal URL and an API token (asked for, or from stdin / $ORGPORTAL_TOKEN)
                               in ~/.config/orgportal/config.json, mode 600
    orgportal login URL --oidc in a CI job: exchange the job's OIDC ID token (GitHub Actions: requested with
                               $ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN; GitLab: the `id_tokens` variable named by
                               --id-token-env, default ORGPORTAL_ID_TOKEN) for a short-lived portal token
    orgportal orgs [--json]    the orgs you can target
    orgportal env ALIAS        shell exports: SF_ACCESS_TOKEN, SF_ORG_INSTANCE_URL, SF_TARGET_ORG
    orgportal sf-login ALIAS   `sf org login access-token --instance-url … --no-prompt --alias ALIAS` with a fresh
                               token (passed in the environment, never on the command line)
    orgportal sandbox create|refresh|status|delete PROD NAME
                               sandboxes of a production org (PROD: alias, username or org id); create and refresh
                               wait with a progress line (--no-wait to return at once; exit 68 when the wait runs
                               out, as sf does); --json prints {"status": 0, "result": {…}} like sf
    orgportal access request ORG --level target --minutes 60 --reason TEXT [--ticket T] [--break-glass] [--wait]
                               time-boxed access to an "access on request" org; --wait waits for the decision
    orgportal access approve|deny|end|revoke ID    decide on (or end) a request
    orgportal access status [ID] [--json]          one request, or yours and those waiting for your decision

In CI set ORGPORTAL_URL and ORGPORTAL_TOKEN (a team service token) instead of logging in. ORGPORTAL_CONFIG moves
the config file; ORGPORTAL_SF names the `sf` command (default: `sf` on PATH).
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
from pathlib import Path

TIMEOUT_SECONDS = 30

EXIT_ERROR, EXIT_USAGE, EXIT_AUTH, EXIT_ACCESS, EXIT_REAUTH, EXIT_RATE, EXIT_UNAVAILABLE = 1, 2, 3, 4, 5, 6, 7

_ADVICE = {
    401: (EXIT_AUTH, "The portal refused the API token (unknown, expired or revoked). Create a new one under "
                     "API tokens and run `orgportal login URL` again."),
    403: (EXIT_ACCESS, "You can see this org but not target it. Ask someone who manages it to share it with you "
                       "at target level."),
    404: (EXIT_ACCESS, "No such org among those you can see. `orgportal orgs` lists them (by alias, username or "
                       "org id)."),
    409: (EXIT_REAUTH, "The org's connection needs re-authorization: reconnect it in the portal (Orgs → Reconnect)."),
    429: (EXIT_RATE, "Too many access-token requests for this API token."),
    503: (EXIT_UNAVAILABLE, "Salesforce is unreachable right now; try again in a moment."),
}


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_ERROR):
        super().__init__(message)
        self.code = code


# -- configuration ---------------------------------------------------------------------------------------------------

def config_path() -> Path:
    if os.environ.get("ORGPORTAL_CONFIG"):
        return Path(os.environ["ORGPORTAL_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "orgportal" / "config.json"


def save_config(url: str, token: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"url": url, "token": token}, handle)
    os.chmod(tmp, 0o600)  # also when the file already existed with a wider mode
    os.replace(tmp, path)
    return path


def load_config() -> tuple[str, str]:
    url, token = os.environ.get("ORGPORTAL_URL"), os.environ.get("ORGPORTAL_TOKEN")
    if not (url and token):
        path = config_path()
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as exc:
            raise CliError(f"Cannot read {path}: {exc}. Run `orgportal login URL` again.") from None
        url, token = url or data.get("url"), token or data.get("token")
    if not url or not token:
        raise CliError("Not logged in: run `orgportal login URL` (or set ORGPORTAL_URL and ORGPORTAL_TOKEN).",
                       EXIT_AUTH)
    return normalise_url(url), token


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


def api(url: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": "orgportal-cli"}
    data = b"" if method == "POST" else None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(  # noqa: S310 (normalise_url allows http/https only)
        f"{url}/api/v1/{path}", method=method, data=data, headers=headers)
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 (http/https only)
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise _api_error(exc) from None
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
    message = body.get("message") if isinstance(body, dict) else None
    code, advice = _ADVICE.get(exc.code, (EXIT_ERROR, f"The portal answered HTTP {exc.code}."))
    if isinstance(body, dict) and body.get("error") == "access_on_request":
        advice = "This org needs a time-boxed access request: `orgportal access request ORG --reason … --wait`."
    if exc.code == 429:
        advice += f" Retry in {exc.headers.get('Retry-After', '60')} s."
    text = f"{message}\n{advice}" if message and exc.code != 401 else advice
    if exc.code == 404 and not (isinstance(body, dict) and "error" in body):
        text = "The portal has no API at this URL: check the URL given to `orgportal login`."
    return CliError(f"error {exc.code}: {text}", code)


def access_token(alias: str) -> dict:
    url, token = load_config()
    return api(url, token, "POST", f"orgs/{urllib.parse.quote(alias, safe='')}/access-token")


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
        print(f"Logged in to {url} with this job's CI identity for {answer.get('expires_in', '?')} s; "
              f"{len(orgs)} org(s) you can target. Token saved in {path} (mode 600).")
        return 0
    token = os.environ.get("ORGPORTAL_TOKEN") if not args.token_stdin else None
    if args.token_stdin:
        token = sys.stdin.readline().strip()
    if not token:
        token = getpass.getpass("API token (from the portal's API tokens page): ").strip()
    if not token.startswith("op_"):
        raise CliError("That is not a portal API token (they start with op_).", EXIT_USAGE)
    orgs = api(url, token, "GET", "orgs")["orgs"]
    path = save_config(url, token)
    print(f"Logged in to {url}; {len(orgs)} org(s) you can target. Token saved in {path} (mode 600).")
    return 0


def cmd_orgs(args) -> int:
    url, token = load_config()
    orgs = api(url, token, "GET", "orgs")["orgs"]
    if args.json:
        print(json.dumps(orgs, indent=2))
        return 0
    if not orgs:
        print("No orgs you can target yet.")
        return 0
    header = ("ALIAS", "USERNAME", "ORG ID", "TYPE", "STATUS", "DEFAULT")
    rows = [(o["alias"] or "-", o["username"], o["org_id"], o["type"], o["status"],
             ",".join(f for f, on in (("org", o["is_default_org"]), ("devhub", o["is_default_devhub"])) if on) or "-")
            for o in orgs]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_env(args) -> int:
    issued = access_token(args.alias)
    print(f"export SF_ACCESS_TOKEN={shlex.quote(issued['access_token'])}")
    print(f"export SF_ORG_INSTANCE_URL={shlex.quote(issued['instance_url'])}")
    print(f"export SF_TARGET_ORG={shlex.quote(args.alias)}")
    return 0


def sf_command() -> list[str]:
    return shlex.split(os.environ.get("ORGPORTAL_SF") or "sf")


def cmd_sf_login(args) -> int:
    issued = access_token(args.alias)
    command = [*sf_command(), "org", "login", "access-token", "--instance-url", issued["instance_url"],
               "--no-prompt", "--alias", args.alias]
    if args.set_default:
        command.append("--set-default")
    if args.json:
        command.append("--json")
    env = {**os.environ, "SF_ACCESS_TOKEN": issued["access_token"]}
    try:
        result = subprocess.run(command, env=env, check=False)  # noqa: S603 (the user's own sf command)
    except FileNotFoundError:
        raise CliError("The Salesforce CLI (`sf`) is not installed or not on PATH (set ORGPORTAL_SF to its "
                       "command).") from None
    if result.returncode != 0:
        raise CliError(f"`sf org login access-token` failed (exit {result.returncode}).", result.returncode)
    if not args.json:
        print(f"sf can now target {args.alias} ({issued['username']}): sf data query --target-org {args.alias} …",
              file=sys.stderr)
    return 0


EXIT_WAIT_EXHAUSTED = 68  # as `sf org create|refresh sandbox` when the wait runs out


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


def _sandbox_result(args, sandbox: dict) -> int:
    failed = sandbox.get("state") == "failed"
    if args.json:
        out = {"status": 1 if failed else 0, "result": sandbox, "warnings": []}
        if failed:
            out.update({"name": "SandboxFailed", "message": sandbox.get("message", "")})
        print(json.dumps(out, indent=2))
    elif failed:
        print(f"{sandbox['name']}: failed. {sandbox.get('message', '')}", file=sys.stderr)
    else:
        print(_progress_line(sandbox) + (f"\n{sandbox['message']}" if sandbox.get("message") else ""))
    return EXIT_ERROR if failed else 0


def _json_error(args, exc: CliError) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"status": exc.code, "name": "OrgPortalError", "message": str(exc), "warnings": []},
                         indent=2))
        return exc.code
    raise exc


def cmd_sandbox(args) -> int:
    url, token = load_config()
    try:
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
    except CliError as exc:
        return _json_error(args, exc)
    return _sandbox_result(args, sandbox)


EXIT_DENIED = 8  # access request denied, lapsed or not decided within --wait-minutes


def _request_line(row: dict) -> str:
    until = f" until {row['expires_at']}" if row.get("expires_at") else ""
    glass = " BREAK-GLASS" if row.get("break_glass") else ""
    return (f"{row['id']}  {row['state']:<9} {row['level']:<7} {row['org']}  {row['requester']}{until}{glass}  "
            f"({row['reason']})")


def cmd_access(args) -> int:
    url, token = load_config()
    if args.action == "request":
        body = {"org": args.org, "level": args.level, "minutes": args.minutes, "reason": args.reason,
                "ticket": args.ticket or "", "break_glass": args.break_glass}
        row = api(url, token, "POST", "access-requests", body)
        if args.wait and row["state"] == "pending":
            deadline = time.monotonic() + args.wait_minutes * 60
            if not args.json:
                print(f"Waiting for a decision on {row['id']} …", file=sys.stderr)
            while row["state"] == "pending" and time.monotonic() < deadline:
                time.sleep(args.poll_seconds)
                row = api(url, token, "GET", f"access-requests/{row['id']}")
    elif args.action == "status":
        if not args.id:
            rows = api(url, token, "GET", "access-requests")
            if args.json:
                print(json.dumps(rows, indent=2))
            else:
                for row in rows["requests"]:
                    print(_request_line(row))
                for row in rows["to_decide"]:
                    print("TO DECIDE  " + _request_line(row))
            return 0
        row = api(url, token, "GET", f"access-requests/{urllib.parse.quote(args.id, safe='')}")
    else:
        row = api(url, token, "POST", f"access-requests/{urllib.parse.quote(args.id, safe='')}/{args.action}")
    print(json.dumps(row, indent=2) if args.json else _request_line(row))
    if args.action == "request" and row["state"] in ("denied", "lapsed", "pending") and args.wait:
        return EXIT_DENIED
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="orgportal", description="Access tokens for the orgs you may target.")
    commands = top.add_subparsers(dest="command", required=True)
    login = commands.add_parser("login", help="store the portal URL and an API token")
    login.add_argument("url")
    login.add_argument("--token-stdin", action="store_true", help="read the token from standard input")
    login.add_argument("--oidc", action="store_true", help="in CI: exchange the job's OIDC ID token (no stored secret)")
    login.add_argument("--audience", help="the audience to request for the ID token (default: the portal URL)")
    login.add_argument("--id-token-env", default="ORGPORTAL_ID_TOKEN",
                       help="the variable holding the ID token (GitLab id_tokens; default ORGPORTAL_ID_TOKEN)")
    login.set_defaults(func=cmd_login)
    orgs = commands.add_parser("orgs", help="list the orgs you can target")
    orgs.add_argument("--json", action="store_true")
    orgs.set_defaults(func=cmd_orgs)
    env = commands.add_parser("env", help="print shell exports for an org: eval \"$(orgportal env ALIAS)\"")
    env.add_argument("alias")
    env.set_defaults(func=cmd_env)
    sf_login = commands.add_parser("sf-login", help="log the Salesforce CLI in to an org with a fresh token")
    sf_login.add_argument("alias")
    sf_login.add_argument("--set-default", action="store_true", help="also make it sf's target-org")
    sf_login.add_argument("--json", action="store_true", help="pass --json to sf")
    sf_login.set_defaults(func=cmd_sf_login)
    sandbox = commands.add_parser("sandbox", help="create, refresh, check or delete a sandbox of a production org")
    actions = sandbox.add_subparsers(dest="action", required=True)
    for action, text in (("create", "create a sandbox; the portal connects it for you"),
                         ("refresh", "refresh a sandbox; its connection and alias keep working"),
                         ("status", "a sandbox and the progress of its create/refresh"),
                         ("delete", "delete a sandbox and its portal connection")):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("production", help="the production org: alias, username or org id")
        sub.add_argument("name", help="the sandbox name (1-10 letters or digits)")
        sub.add_argument("--json", action="store_true", help="JSON output like sf: {status, result}")
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
    access = commands.add_parser("access", help="time-boxed access: request, approve, deny, end, revoke, status")
    verbs = access.add_subparsers(dest="action", required=True)
    request = verbs.add_parser("request", help="request time-boxed access (or break glass)")
    request.add_argument("org", help="alias, username or org id")
    request.add_argument("--level", default="target", choices=["view", "target", "manage"])
    request.add_argument("--minutes", type=int, default=60)
    request.add_argument("--reason", required=True)
    request.add_argument("--ticket")
    request.add_argument("--break-glass", action="store_true", help="activate without approval (if allowed)")
    request.add_argument("--wait", action="store_true", help="wait for the decision")
    request.add_argument("--wait-minutes", type=float, default=30)
    request.add_argument("--poll-seconds", type=float, default=5)
    request.add_argument("--json", action="store_true")
    request.set_defaults(func=cmd_access)
    for verb in ("approve", "deny", "end", "revoke", "status"):
        sub = verbs.add_parser(verb, help=f"{verb} an access request" if verb != "status" else "show requests")
        sub.add_argument("id", nargs="?" if verb == "status" else None)
        sub.add_argument("--json", action="store_true")
        sub.set_defaults(func=cmd_access)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"orgportal: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
