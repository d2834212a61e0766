"""Shell completions for bash, zsh and fish, generated from the argparse parser (`python -m orgportal.completions
SHELL`). The portal's download build (portal/clidist.py) runs this once against the zipapp it built and serves the
scripts at /cli/completions/<shell>; nothing here runs when you press Tab."""

from __future__ import annotations

import argparse
import sys

from orgportal.cli import parser

SHELLS = ("bash", "zsh", "fish")


def _subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in p._actions:  # argparse keeps no public walk; _actions is stable since Python 3.2
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(p: argparse.ArgumentParser) -> list[str]:
    return sorted(o for a in p._actions for o in a.option_strings if o.startswith("--"))


def tree(p: argparse.ArgumentParser | None = None, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], dict]:
    """{command path: {"commands": [...], "options": [...]}} for the parser and every sub-command."""
    p = p or parser()
    subs = _subparsers(p)
    words = [str(c) for a in p._actions if not a.option_strings and a.choices and
             not isinstance(a, argparse._SubParsersAction) for c in a.choices]
    found = {prefix: {"commands": sorted(subs) + words, "options": _options(p)}}
    for name, sub in subs.items():
        found.update(tree(sub, (*prefix, name)))
    return found


def bash() -> str:
    cases = "\n".join(f'        "{" ".join(path)}") words="{" ".join(v["commands"] + v["options"])}" ;;'
                      for path, v in tree().items())
    return f"""# bash completion for orgportal (generated from its parser)
_orgportal() {{
    local cur path="" w words
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    for w in "${{COMP_WORDS[@]:1:COMP_CWORD-1}}"; do
        case "$w" in -*) ;; *) if [ -z "$path" ]; then path="$w"; else path="$path $w"; fi ;; esac
    done
    case "$path" in
{cases}
        *) words="" ;;
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -F _orgportal orgportal
"""


def zsh() -> str:
    return ("#compdef orgportal\n# zsh completion for orgportal (generated from its parser): bash's, through "
            "bashcompinit\nautoload -U +X bashcompinit && bashcompinit\n" + bash())


def fish() -> str:
    lines = ["# fish completion for orgportal (generated from its parser)", "complete -c orgportal -f"]
    for path, v in tree().items():
        if len(path) == 0:
            condition = "__fish_use_subcommand"
        else:
            condition = " && ".join(f"__fish_seen_subcommand_from {word}" for word in path)
        for command in v["commands"]:
            lines.append(f"complete -c orgportal -n '{condition}' -a {command}")
        for option in v["options"]:
            lines.append(f"complete -c orgportal -n '{condition}' -l {option[2:]}")
    return "\n".join(lines) + "\n"


def generate(shell: str) -> str:
    return {"bash": bash, "zsh": zsh, "fish": fish}[shell]()


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in SHELLS:
        sys.exit(f"usage: python -m orgportal.completions {{{','.join(SHELLS)}}}")
    sys.stdout.write(generate(sys.argv[1]))
