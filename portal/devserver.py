"""`make run`: the whole portal on one machine, with nothing else installed.

Starts, as child processes: the bundled Salesforce simulator, the web server, a Celery worker and Celery beat.
Defaults: SQLite in .run/, no Redis (Celery uses kombu's filesystem transport in .run/broker, a real broker shared
by the processes, so periodic tasks really run), console email. Ctrl-C stops everything.

Reloading, like runserver: `watchfiles` watches portal/, orgs/ and templates/ (PORTAL_DEV_WATCH: other directories,
separated by the path separator). A .py or .html edit restarts the web process; a .py edit also restarts the worker
and beat. An edit of the CLI (clients/orgportal/src) rebuilds the /cli/ download and its completions instead. The
simulators are never restarted (their tokens live in memory). A restarted process that crashes (a syntax error)
waits for the next edit instead of stopping everything. Each child runs in its own process group, which a restart or
Ctrl-C ends as a whole.
"""

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
RUN_DIR = BASE_DIR / ".run"
WATCHED = ("portal", "orgs", "templates")
CLI_SOURCE = BASE_DIR / "clients" / "orgportal" / "src"  # edits here rebuild the CLI download (build_cli)
# Which edits restart which process: the web reads code and templates, the worker and beat only code.
RELOADS = {"web": (".py", ".html"), "worker": (".py",), "beat": (".py",)}


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
    commands = {  # the simulators first; web, worker and beat are the ones edits restart (RELOADS)
        "sfsim": [sys.executable, "-m", "sfsim", "--port", env["SFSIM_PORT"]],
        "oidcsim": [sys.executable, "-m", "oidcsim", "--port", env["OIDCSIM_PORT"]],
        "web": [sys.executable, "manage.py", "runserver", f"127.0.0.1:{env['PORT']}", "--noreload"],
        "worker": [sys.executable, "-m", "celery", "-A", "portal", "worker", "-l", "INFO", "--concurrency", "2"],
        "beat": [sys.executable, "-m", "celery", "-A", "portal", "beat", "-l", "INFO"],
    }
    procs: dict[str, subprocess.Popen] = {}
    crashed: set[str] = set()  # restartable processes that exited: they wait for the next edit

    def start(name: str) -> None:
        # Children get their own sessions: Ctrl-C reaches only this supervisor, which stops them in order.
        procs[name] = subprocess.Popen(commands[name], cwd=BASE_DIR, env=env, start_new_session=True)
        crashed.discard(name)
        print(f"[devserver] {name} started, pid {procs[name].pid}", flush=True)

    def stop(names) -> None:
        running = [procs[name] for name in names if name in procs and procs[name].poll() is None]
        for proc in running:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in running:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        for proc in running:  # what the child left behind in its group (pool processes), too
            _signal_group(proc, signal.SIGKILL)

    def stop_all(*_args) -> None:
        stop(list(procs))

    signal.signal(signal.SIGTERM, lambda *a: (stop_all(), sys.exit(0)))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (`cmd &`)
    changes: queue.Queue[set[str]] = queue.Queue()
    watcher_stop = threading.Event()
    try:
        start("sfsim")
        _wait_for_http(f"{sim_url}/services/data/")
        start("oidcsim")
        _wait_for_http(f"{env['PORTAL_OIDC_GITHUB_ISSUER']}/.well-known/openid-configuration")
        _point_simulator_callback(sim_url, env["PORTAL_BASE_URL"])
        _manage(env, "seed_demo", "--simulator", sim_url, "--oidc-issuer")
        watching = _start_watcher(_watch_dirs(env) + ([CLI_SOURCE] if CLI_SOURCE.is_dir() else []), changes,
                                  watcher_stop)
        for name in RELOADS:
            start(name)
        _wait_for_http(f"http://127.0.0.1:{env['PORT']}/accounts/login/")
        print(f"\n  Org Portal is running at {env['PORTAL_BASE_URL']}/  (Salesforce simulator at {sim_url})")
        if watching:
            print(f"  Edits reload it: {', '.join(str(d) for d in watching)} (.py: web, worker, beat; .html: web)")
        print("  Press Ctrl-C to stop the web server, worker, beat and simulator.\n", flush=True)
        while True:
            try:
                changed = changes.get(timeout=0.5)
            except queue.Empty:
                changed = set()
            cli = {p for p in changed if Path(p).is_relative_to(CLI_SOURCE)}
            if cli:
                print("[devserver] the CLI changed: rebuilding the /cli/ download", flush=True)
                try:
                    _manage(env, "build_cli", "-v", "0")
                except subprocess.CalledProcessError:
                    print("[devserver] build_cli failed; the previous download stays", file=sys.stderr, flush=True)
                changed -= cli
            restart = [name for name, suffixes in RELOADS.items() if any(p.endswith(suffixes) for p in changed)]
            if restart:
                shown = ", ".join(sorted(os.path.relpath(p, BASE_DIR) for p in changed)[:3])
                print(f"[devserver] {shown} changed: restarting {', '.join(restart)}", flush=True)
                stop(restart)
                for name in restart:
                    start(name)
            for name, proc in procs.items():
                if proc.poll() is None or name in crashed:
                    continue
                if name in RELOADS:
                    crashed.add(name)
                    print(f"[devserver] {name} exited with status {proc.returncode}; waiting for a code change.",
                          file=sys.stderr, flush=True)
                else:
                    print(f"{name} exited with status {proc.returncode}; stopping everything.", file=sys.stderr)
                    return 1
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
        return 0
    finally:
        watcher_stop.set()
        stop_all()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Signal the child's whole process group (it leads its own session): runserver's and Celery's children too."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _watch_dirs(env: dict[str, str]) -> list[Path]:
    configured = env.get("PORTAL_DEV_WATCH")
    names = configured.split(os.pathsep) if configured else WATCHED
    return [path for path in ((BASE_DIR / name).resolve() for name in names if name) if path.is_dir()]


def _start_watcher(dirs: list[Path], changes: "queue.Queue[set[str]]", stop_event: threading.Event) -> list[Path]:
    """Watch `dirs` for .py/.html edits on a thread; each batch of changed paths goes to `changes`."""
    try:
        import watchfiles
    except ImportError:
        print("watchfiles is not installed: no reloading on edits (pip install watchfiles).", file=sys.stderr)
        return []

    class SourceFilter(watchfiles.DefaultFilter):
        def __call__(self, change, path: str) -> bool:
            return path.endswith((".py", ".html")) and super().__call__(change, path)

    def run() -> None:
        for batch in watchfiles.watch(*dirs, watch_filter=SourceFilter(), stop_event=stop_event, debounce=400,
                                      raise_interrupt=False):
            changes.put({path for _change, path in batch})

    threading.Thread(target=run, name="devserver-watch", daemon=True).start()
    return dirs


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
