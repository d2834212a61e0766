"""The wheel carries the shell completions, generated from the parser when the package is built:
orgportal/share/orgportal.{bash,zsh,fish}, which `orgportal completions SHELL` prints. Everything else is in
pyproject.toml."""

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithCompletions(build_py):
    def run(self):
        super().run()
        sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))
        try:
            from orgportal.completions import SHELLS, generate
        finally:
            sys.path.pop(0)
        share = Path(self.build_lib) / "orgportal" / "share"
        share.mkdir(parents=True, exist_ok=True)
        for shell in SHELLS:
            (share / f"orgportal.{shell}").write_text(generate(shell), encoding="utf-8")


setup(cmdclass={"build_py": BuildWithCompletions})
