"""`make run` reloads like runserver (issue 19, item 12): on a copy of the checkout, on free ports, a template edit
restarts the web process only, a .py edit restarts the web, the worker and beat (never the simulators), a bad edit
leaves make run waiting for the fix, and Ctrl-C ends every child. The copy's process groups are always killed at
the end."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.test_settings_and_deploy import clean_env

ROOT = Path(__file__).resolve().parent.parent
STARTED = re.compile(r"\[devserver\] (\w+) started, pid (\d+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pids(log: Path) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for name, pid in STARTED.findall(log.read_text(errors="replace")):
        found.setdefault(name, []).append(int(pid))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def running_in(directory: Path) -> set[int]:
    """This test's processes: those whose working directory is the checkout copy."""
    found = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if Path(os.readlink(proc / "cwd")).is_relative_to(directory):
                    found.add(int(proc.name))
            except OSError:
                continue
    return found


def wait_for(condition, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what} within {timeout:.0f} s; log:\n{log.read_text(errors='replace')[-6000:]}")


def get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return ""


def test_make_run_reloads_the_web_on_edits_and_restarts_the_worker_on_code_edits(tmp_path):
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".run", "build", "staticfiles", "__pycache__", ".pytest_cache", ".ruff_cache", "tests",
        "bench", "docs", "*.egg-info", ".hypothesis"))
    port = free_port()
    env = {**clean_env(), "PORT": str(port), "SFSIM_PORT": str(free_port()), "OIDCSIM_PORT": str(free_port()),
           "PYTHONPATH": str(checkout), "PYTHONDONTWRITEBYTECODE": "1"}
    log = tmp_path / "devserver.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "portal.devserver"], cwd=checkout, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: "Org Portal is running" in log.read_text(errors="replace"), 240, "make run started", log)
        first = pids(log)
        assert set(first) == {"sfsim", "oidcsim", "web", "worker", "beat"}, first
        assert '"status": "ok"' in get(f"{base}/healthz").replace('":"', '": "')

        # A template edit: the page changes; only the web process was restarted.
        base_html = checkout / "templates" / "base.html"
        base_html.write_text(base_html.read_text().replace("</body>", "<!-- reloaded-template -->\n</body>"))
        wait_for(lambda: "reloaded-template" in get(f"{base}/accounts/login/"), 60, "the template edit served", log)
        after_html = pids(log)
        assert len(after_html["web"]) == 2 and after_html["web"][1] != first["web"][0]
        assert after_html["worker"] == first["worker"] and after_html["beat"] == first["beat"]

        # A code edit: the view's answer changes; the web, the worker and beat are new processes.
        health = checkout / "portal" / "health.py"
        health.write_text(health.read_text().replace('JsonResponse({"status": "ok"})',
                                                     'JsonResponse({"status": "ok", "edited": "yes"})'))
        wait_for(lambda: '"edited"' in get(f"{base}/healthz"), 90, "the code edit served", log)
        after_py = wait_for(lambda: (lambda p: p if len(p["worker"]) == 2 and len(p["beat"]) == 2 else None)(
            pids(log)), 30, "the worker and beat restarted", log)
        assert len(after_py["web"]) == 3
        assert after_py["worker"][1] != first["worker"][0] and after_py["beat"][1] != first["beat"][0]
        assert after_py["sfsim"] == first["sfsim"] and after_py["oidcsim"] == first["oidcsim"]  # never restarted
        wait_for(lambda: not any(alive(p) for p in (first["worker"][0], first["beat"][0], first["web"][0])), 20,
                 "the replaced processes ended", log)

        # A CLI edit: the /cli/ download is rebuilt; nothing is restarted.
        def download() -> bytes:
            try:
                with urllib.request.urlopen(f"{base}/cli/orgportal", timeout=5) as response:
                    return response.read()
            except OSError:
                return b""
        before_cli, before_pids = download(), pids(log)
        assert before_cli.startswith(b"#!")
        init = checkout / "clients" / "orgportal" / "src" / "orgportal" / "__init__.py"
        init.write_text(init.read_text() + "\n# edited\n")
        wait_for(lambda: download() not in (b"", before_cli), 60, "the CLI download rebuilt", log)
        assert pids(log) == before_pids

        # A bad edit: the web process dies, make run keeps watching; the fix brings it back.
        good = health.read_text()
        health.write_text(good + "\nthis is not python\n")
        wait_for(lambda: "web exited with status" in log.read_text(errors="replace"), 60, "the web crashed", log)
        assert server.poll() is None and alive(first["sfsim"][0])
        health.write_text(good.replace('"edited": "yes"', '"edited": "again"'))
        wait_for(lambda: '"again"' in get(f"{base}/healthz"), 90, "the fixed code served", log)

        # Ctrl-C: the supervisor and every child end.
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0
        everyone = [pid for found in pids(log).values() for pid in found]
        wait_for(lambda: not any(alive(pid) for pid in everyone), 15, "every child ended after Ctrl-C", log)
        assert not [pid for pid in running_in(checkout) if alive(pid)]  # the worker's pool processes too
    finally:
        # Each child leads its own process group; also anything still running in the copy (even unannounced).
        groups = {server.pid, *(pid for found in pids(log).values() for pid in found), *running_in(checkout)}
        for pgid in groups:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in running_in(checkout):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        server.wait(timeout=10)


pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process groups and /proc")
