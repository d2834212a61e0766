"""`make run`: the whole portal on one machine, with nothing else installed.

Starts, as child processes: the bundled Salesforce simulator, the web server, a Celery worker and Celery beat.
Defaults: SQLite in .run/, no Redis (Celery uses kombu's filesystem transport in .run/broker, a real broker shared
by the processes, so periodic tasks really run), console email. Ctrl-C stops everything.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
RUN_DIR = BASE_DIR / ".run"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DEBUG", "true")
    env.setdefault("PORTAL_RUN_DIR", str(RUN_DIR))
    port = env.setdefault("PORT", "8000")
    env.setdefault("PORTAL_BASE_URL", f"http://127.0.0.1:{port}")
    env.setdefault("SFSIM_PORT", "8765")
    env.setdefault("PORTAL_SALESFORCE_ALLOWED_HOSTS", f"http://127.0.0.1:{env['SFSIM_PORT']}")
    env.setdefault("OIDCSIM_PORT", "8766")  # a fake CI OIDC issuer, trusted as "GitHub Actions" by the demo team
    env.setdefault("PORTAL_OIDC_GITHUB_ISSUER", f"http://127.0.0.1:{env['OIDCSIM_PORT']}/github")
    env.setdefault("PORTAL_OIDC_ALLOWED_HOSTS", f"http://127.0.0.1:{env['OIDCSIM_PORT']}")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _manage(env, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, check=True)


def main() -> int:
    RUN_DIR.mkdir(exist_ok=True)
    (RUN_DIR / "broker").mkdir(exist_ok=True)
    (RUN_DIR / "broker-processed").mkdir(exist_ok=True)
    (RUN_DIR / "broker-control").mkdir(exist_ok=True)
    env = _env()
    if env.get("DEBUG", "").lower() not in {"1", "true", "yes", "on"}:
        print("make run is for development; set DEBUG=true or unset it.", file=sys.stderr)
        return 2
    _manage(env, "ensure_dev_keyring")
    env["PORTAL_ENCRYPTION_KEYS_FILE"] = str(RUN_DIR / "encryption-keys")
    _manage(env, "migrate", "--noinput", "-v", "0")
    _manage(env, "build_cli", "-v", "0")  # the /cli/orgportal download and its completions (build/cli)

    sim_url = f"http://127.0.0.1:{env['SFSIM_PORT']}"
    commands = {
        "sfsim": [sys.executable, "-m", "sfsim", "--port", env["SFSIM_PORT"]],
        "oidcsim": [sys.executable, "-m", "oidcsim", "--port", env["OIDCSIM_PORT"]],
        "web": [sys.executable, "manage.py", "runserver", f"127.0.0.1:{env['PORT']}", "--noreload"],
        "worker": [sys.executable, "-m", "celery", "-A", "portal", "worker", "-l", "INFO", "--concurrency", "2"],
        "beat": [sys.executable, "-m", "celery", "-A", "portal", "beat", "-l", "INFO"],
    }
    procs: dict[str, subprocess.Popen] = {}

    def stop_all(*_args) -> None:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()

    signal.signal(signal.SIGTERM, lambda *a: (stop_all(), sys.exit(0)))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (`cmd &`)
    try:
        # Children get their own sessions: Ctrl-C reaches only this supervisor, which stops them in order.
        procs["sfsim"] = subprocess.Popen(commands.pop("sfsim"), cwd=BASE_DIR, env=env, start_new_session=True)
        _wait_for_http(f"{sim_url}/services/data/")
        procs["oidcsim"] = subprocess.Popen(commands.pop("oidcsim"), cwd=BASE_DIR, env=env, start_new_session=True)
        _wait_for_http(f"{env['PORTAL_OIDC_GITHUB_ISSUER']}/.well-known/openid-configuration")
        _point_simulator_callback(sim_url, env["PORTAL_BASE_URL"])
        _manage(env, "seed_demo", "--simulator", sim_url, "--oidc-issuer")
        for name, command in commands.items():
            procs[name] = subprocess.Popen(command, cwd=BASE_DIR, env=env, start_new_session=True)
        _wait_for_http(f"http://127.0.0.1:{env['PORT']}/accounts/login/")
        print(f"\n  Org Portal is running at {env['PORTAL_BASE_URL']}/  (Salesforce simulator at {sim_url})")
        print("  Press Ctrl-C to stop the web server, worker, beat and simulator.\n", flush=True)
        while True:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    print(f"{name} exited with status {proc.returncode}; stopping everything.", file=sys.stderr)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
        return 0
    finally:
        stop_all()


def _point_simulator_callback(sim_url: str, base_url: str) -> None:
    """The simulator's demo app must call back to this portal (exact redirect_uri match, as in Salesforce)."""
    import json
    import urllib.request

    body = json.dumps({"callback_urls": [f"{base_url}/orgs/oauth/callback/"]}).encode()
    request = urllib.request.Request(f"{sim_url}/__sim__/apps/OrgPortalDemo", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).close()  # noqa: S310 - the local simulator started above


def _wait_for_http(url: str, timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()  # noqa: S310 - loopback URL built above
            return
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout:.0f} s") from None
            time.sleep(0.3)


if __name__ == "__main__":
    sys.exit(main())
