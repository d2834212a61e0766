"""Default claims of a CI ID token, by issuer kind, merged with a caller's overrides.

Values follow /work/shared/OIDC.md §2: GitHub and GitLab send IDs and ``ref_protected`` as strings.
Derived claims (``sub``, owner/namespace, workflow refs, ``ref_path``) are computed from the merged claims
unless the caller set them, so ``{"repository": "evil/app"}`` yields a consistent ``sub`` and owner.
An override whose value is ``None`` removes the claim (e.g. ``{"jti": None}``).
"""

from __future__ import annotations

import uuid
from typing import Any

KINDS = ("github", "gitlab", "custom")

# The registered claims every kind carries; the rest are kind-specific.
REGISTERED = ["iss", "sub", "aud", "exp", "iat", "nbf", "jti"]

GITHUB_CLAIMS = [
    *REGISTERED,
    "ref",
    "sha",
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "repository_visibility",
    "enterprise",
    "enterprise_id",
    "run_id",
    "run_number",
    "run_attempt",
    "actor",
    "actor_id",
    "workflow",
    "workflow_ref",
    "workflow_sha",
    "head_ref",
    "base_ref",
    "event_name",
    "ref_type",
    "ref_protected",
    "environment",
    "environment_node_id",
    "job_workflow_ref",
    "job_workflow_sha",
    "runner_environment",
    "check_run_id",
]
GITLAB_CLAIMS = [
    *REGISTERED,
    "namespace_id",
    "namespace_path",
    "project_id",
    "project_path",
    "project_visibility",
    "user_id",
    "user_login",
    "user_email",
    "user_access_level",
    "pipeline_id",
    "pipeline_source",
    "job_id",
    "ref",
    "ref_type",
    "ref_path",
    "ref_protected",
    "environment",
    "environment_protected",
    "deployment_tier",
    "runner_id",
    "runner_environment",
    "sha",
    "ci_config_ref_uri",
    "ci_config_sha",
]
CLAIMS_SUPPORTED = {"github": GITHUB_CLAIMS, "gitlab": GITLAB_CLAIMS, "custom": list(REGISTERED)}

# nbf relative to iat: GitHub's documented example has nbf = iat - 600; GitLab uses iat - 5.
NBF_OFFSET = {"github": 600, "gitlab": 5, "custom": 0}

_SHA = "e8b4c7f1a2d3b4c5d6e7f8a9b0c1d2e3f4a5b6c7"


def _github_base() -> dict[str, Any]:
    return {
        "ref": "refs/heads/main",
        "sha": _SHA,
        "repository": "acme/app",
        "repository_id": "260064828",
        "repository_owner": "acme",
        "repository_owner_id": "1342004",
        "repository_visibility": "private",
        "run_id": "9876543210",
        "run_number": "42",
        "run_attempt": "1",
        "actor": "octocat",
        "actor_id": "583231",
        "workflow": "Deploy",
        "workflow_sha": _SHA,
        "job_workflow_sha": _SHA,
        "head_ref": "",
        "base_ref": "",
        "event_name": "push",
        "ref_type": "branch",
        "ref_protected": "true",
        "runner_environment": "github-hosted",
    }


def _github_derived(claims: dict[str, Any]) -> dict[str, Any]:
    repository = str(claims.get("repository", ""))
    ref = str(claims.get("ref", ""))
    workflow_ref = f"{repository}/.github/workflows/deploy.yml@{ref}"
    if claims.get("environment"):
        context = f"environment:{_escape(claims['environment'])}"
    elif str(claims.get("event_name", "")).startswith("pull_request"):
        context = "pull_request"
    else:
        context = f"ref:{_escape(ref)}"
    return {
        "repository_owner": repository.split("/", 1)[0],
        "workflow_ref": workflow_ref,
        "job_workflow_ref": workflow_ref,
        "sub": f"repo:{_escape(repository)}:{context}",
    }


def _gitlab_base() -> dict[str, Any]:
    return {
        "namespace_id": "72",
        "project_id": "20",
        "project_path": "acme/app",
        "project_visibility": "private",
        "user_id": "1",
        "user_login": "ada",
        "user_email": "ada@acme.example",
        "user_access_level": "maintainer",
        "pipeline_id": "574",
        "pipeline_source": "push",
        "job_id": "302",
        "ref": "main",
        "ref_type": "branch",
        "ref_protected": "true",
        "runner_id": 1,
        "runner_environment": "gitlab-hosted",
        "sha": _SHA,
        "ci_config_sha": _SHA,
    }


def _gitlab_derived(claims: dict[str, Any]) -> dict[str, Any]:
    project_path = str(claims.get("project_path", ""))
    ref, ref_type = str(claims.get("ref", "")), str(claims.get("ref_type", ""))
    ref_path = f"refs/{'tags' if ref_type == 'tag' else 'heads'}/{ref}"
    return {
        "namespace_path": project_path.rsplit("/", 1)[0],
        "ref_path": ref_path,
        "ci_config_ref_uri": f"gitlab.com/{project_path}//.gitlab-ci.yml@{ref_path}",
        "sub": f"project_path:{project_path}:ref_type:{ref_type}:ref:{ref}",
    }


def _escape(value: Any) -> str:
    return str(value).replace(":", "%3A")


def build_claims(
    kind: str,
    issuer: str,
    audience: Any,
    overrides: dict[str, Any] | None,
    *,
    now: int,
    lifetime: int = 300,
    iat: int | None = None,
    nbf: int | None = None,
    exp: int | None = None,
) -> dict[str, Any]:
    """The token's payload: registered claims, kind defaults, overrides, then derived claims not overridden."""
    overrides = dict(overrides or {})
    issued = now if iat is None else iat
    claims: dict[str, Any] = {
        "jti": str(uuid.uuid4()),
        "iss": issuer,
        "iat": issued,
        "nbf": issued - NBF_OFFSET[kind] if nbf is None else nbf,
        "exp": issued + lifetime if exp is None else exp,
    }
    if audience is not None:
        claims["aud"] = audience
    if kind == "github":
        claims.update(_github_base())
    elif kind == "gitlab":
        claims.update(_gitlab_base())
    else:
        claims["sub"] = "custom-subject"
    claims.update(overrides)
    derived = _github_derived(claims) if kind == "github" else _gitlab_derived(claims) if kind == "gitlab" else {}
    for key, value in derived.items():
        if key not in overrides:
            claims[key] = value
    return {key: value for key, value in claims.items() if value is not None}
