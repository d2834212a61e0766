"""The OpenAPI 3.1 document served at /api/v1/schema. Kept by hand, next to orgs/api.py; tests check that the
API's answers validate against these schemas."""

_ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*statuses: int) -> dict:
    text = {400: "The request is invalid; `message` says what to fix.",
            401: "Missing, unknown, expired or revoked API token.",
            403: "The caller can see the org but not target it.",
            404: "No such org among those the caller can see (unknown and invisible look the same).",
            409: "The connection needs re-authorization, or an org id matches several connections.",
            422: "The Dev Hub could not create the scratch org (Salesforce's error code in `detail`).",
            502: "Salesforce did not issue a single-use sign-in link.",
            429: "Rate limit per API token; see the Retry-After header.",
            503: "Salesforce is unreachable, or the portal's encryption key for the org is unavailable; retry later."}
    out = {}
    for status in statuses:
        entry = {"description": text[status], "content": {"application/problem+json": {"schema": _ERROR}}}
        if status == 429:
            entry["headers"] = {
                "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."},
                "RateLimit-Policy": {"schema": {"type": "string"}, "description": '`"handout";q=<quota>;w=60`'},
                "RateLimit": {"schema": {"type": "string"}, "description": '`"handout";r=0;t=<seconds>`'}}
        out[str(status)] = entry
    return out


_IDENT = {"name": "ident", "in": "path", "required": True, "schema": {"type": "string"},
          "description": "The caller's alias for the org, the Salesforce username, or the org id (15 or 18)."}

ORG = {
    "type": "object",
    "required": ["alias", "username", "org_id", "type", "instance_url", "status", "is_default_org",
                 "is_default_devhub", "access"],
    "properties": {
        "alias": {"type": ["string", "null"], "description": "The caller's alias (personal tokens only)."},
        "username": {"type": "string"},
        "org_id": {"type": "string", "pattern": "^00D[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$"},
        "type": {"type": "string", "enum": ["Dev Hub", "Production", "Developer Edition", "Sandbox", "Scratch"]},
        "kind": {"type": "string", "enum": ["production", "developer", "sandbox", "scratch"]},
        "is_devhub": {"type": "boolean"},
        "instance_url": {"type": "string", "format": "uri"},
        "api_version": {"type": "string"},
        "status": {"type": "string",
                   "enum": ["connected", "degraded", "needs_reauth", "check_needed", "key_unavailable"]},
        "status_reason": {"type": "string"},
        "flow": {"type": "string", "enum": ["web", "jwt"]},
        "is_default_org": {"type": "boolean"},
        "is_default_devhub": {"type": "boolean"},
        "access": {"type": "string", "enum": ["view", "target", "manage"]},
    },
}

ACCESS_TOKEN = {
    "type": "object",
    "required": ["access_token", "instance_url", "username", "org_id", "api_version", "issued_at"],
    "properties": {
        "access_token": {"type": "string", "description": "A Salesforce access token. Never log it."},
        "instance_url": {"type": "string", "format": "uri"},
        "username": {"type": "string"},
        "org_id": {"type": "string"},
        "api_version": {"type": "string"},
        "issued_at": {"type": "string", "format": "date-time"},
        "alias": {"type": ["string", "null"]},
    },
}

_NAME = {"name": "name", "in": "path", "required": True,
         "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{1,10}$"}, "description": "The sandbox name."}

SANDBOX = {
    "type": "object",
    "required": ["id", "name", "license_type", "status", "copy_progress", "state", "message", "in_progress",
                 "connected"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "name": {"type": "string"},
        "license_type": {"type": "string", "description": "DEVELOPER, DEVELOPER_PRO, PARTIAL or FULL."},
        "description": {"type": "string"},
        "sandbox_info_id": {"type": ["string", "null"], "description": "SandboxInfo Id (0GQ…)."},
        "process_id": {"type": ["string", "null"], "description": "The newest SandboxProcess Id (0GR…)."},
        "status": {"type": ["string", "null"], "description": "SandboxProcess.Status, e.g. Processing, Completed."},
        "copy_progress": {"type": ["integer", "null"]},
        "sandbox_org_id": {"type": ["string", "null"]},
        "last_refreshed_at": {"type": ["string", "null"], "format": "date-time"},
        "refreshable_at": {"type": ["string", "null"], "format": "date-time",
                           "description": "The earliest refresh Salesforce accepts (by license type)."},
        "operation": {"type": ["string", "null"], "enum": ["create", "refresh", None]},
        "state": {"type": ["string", "null"], "enum": ["requested", "copying", "authorizing", "done", "failed", None]},
        "state_label": {"type": ["string", "null"]},
        "message": {"type": "string", "description": "Progress, or Salesforce's reason and what to do next."},
        "in_progress": {"type": "boolean"},
        "elapsed_seconds": {"type": ["integer", "null"]},
        "connected": {"type": "boolean", "description": "Whether the sandbox is connected in the portal."},
        "deleted": {"type": "boolean"},
    },
}

SANDBOX_REQUEST = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": "^[A-Za-z0-9]{1,10}$"},
        "license_type": {"type": "string", "enum": ["DEVELOPER", "DEVELOPER_PRO", "PARTIAL", "FULL"]},
        "source": {"type": "string", "description": "Name of a sandbox to clone (its license type is used)."},
        "description": {"type": "string", "maxLength": 1000},
        "apex_class_id": {"type": "string", "description": "Post-copy Apex class Id (01p…)."},
        "auto_activate": {"type": "boolean"},
        "alias": {"type": "string"},
        "share": {"type": "string", "enum": ["nobody", "production"]},
    },
}

ERROR = {
    "type": "object",
    "description": "RFC 9457 problem details; `error` (a stable code) and `message` are extension members.",
    "required": ["type", "title", "status", "detail", "error", "message"],
    "properties": {"type": {"type": "string", "description": "urn:orgportal:problem:<error>"},
                   "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"},
                   "error": {"type": "string"}, "message": {"type": "string"}},
}

_PAGE = [{"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"},
          "description": "`next_cursor` of the previous page (opaque)."},
         {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1},
          "description": "Rows per page (default PORTAL_API_PAGE_SIZE, at most PORTAL_API_PAGE_MAX)."}]
_NEXT = {"next_cursor": {"type": ["string", "null"]}, "next": {"type": ["string", "null"], "format": "uri"}}

ME = {
    "type": "object", "required": ["user", "team", "token"],
    "properties": {
        "user": {"type": ["object", "null"], "description": "null for a service token",
                 "properties": {"email": {"type": "string"}, "role": {"type": ["string", "null"]}}},
        "team": {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"},
                                                  "name": {"type": "string"}}},
        "token": {"type": "object", "required": ["id", "name", "kind", "expires_at"],
                  "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                                 "kind": {"enum": ["personal", "service"]}, "hint": {"type": "string"},
                                 "created_at": {"type": "string", "format": "date-time"},
                                 "expires_at": {"type": ["string", "null"], "format": "date-time"},
                                 "from_ci": {"type": "boolean"}}},
    },
}

SCRATCH_ORG = {
    "type": "object", "required": ["id", "status", "state", "status_url", "dev_hub"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "status": {"type": "string", "description": "ScratchOrgInfo.Status: New, Creating, Active, Error, Deleted"},
        "state": {"enum": ["pending", "done", "failed", "deleted"]},
        "error_code": {"type": ["string", "null"]}, "org_id": {"type": ["string", "null"]},
        "username": {"type": ["string", "null"]}, "alias": {"type": ["string", "null"]},
        "org_name": {"type": "string"}, "edition": {"type": "string"}, "namespace": {"type": ["string", "null"]},
        "instance_url": {"type": ["string", "null"]},
        "created_at": {"type": ["string", "null"], "format": "date-time"},
        "expires_on": {"type": ["string", "null"], "format": "date"},
        "dev_hub": {"type": "string"}, "status_url": {"type": "string", "format": "uri"},
    },
}

SCRATCH_REQUEST = {
    "type": "object",
    "properties": {
        "edition": {"type": "string", "description": "Developer, Enterprise, … (or in `definition`)"},
        "org_name": {"type": "string"}, "features": {"type": "string", "description": "; or , separated"},
        "duration_days": {"type": "integer", "minimum": 1, "maximum": 30}, "namespace": {"type": "string"},
        "definition": {"type": "object", "description": "A project-scratch-def.json object"},
        "alias": {"type": "string"},
        "wait": {"type": "integer", "minimum": 0, "description": "Seconds to wait for Active (also a query "
                                                                 "parameter; capped by PORTAL_API_SCRATCH_MAX_WAIT)"},
    },
}


TOKEN_EXCHANGE = {
    "type": "object", "required": ["access_token", "issued_token_type", "token_type", "expires_in"],
    "properties": {
        "access_token": {"type": "string", "description": "A Salesforce access token, or a portal API token (op_…)"},
        "issued_token_type": {"enum": ["urn:ietf:params:oauth:token-type:access_token",
                                       "urn:orgportal:token-type:api-token"]},
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer", "description": "At most the policy's lifetime. A Salesforce token lives as "
                                                         "the org's session settings say; disabling the policy "
                                                         "revokes it."},
        "instance_url": {"type": "string"}, "org_id": {"type": "string"}, "username": {"type": "string"},
        "api_version": {"type": "string"}},
}

OAUTH_ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"enum": ["invalid_request", "invalid_target", "unsupported_grant_type", "slow_down",
                                      "temporarily_unavailable"]},
                   "error_description": {"type": "string"}},
}

TRUST_POLICY_INPUT = {
    "type": "object",
    "properties": {
        "name": {"type": "string"}, "issuer_kind": {"enum": ["github", "gitlab", "custom"]},
        "issuer": {"type": "string", "description": "A custom issuer's URL (its exact iss)"},
        "audience": {"type": "string", "description": "Default: the portal's URL"},
        "required_claims": {"type": "object", "additionalProperties": {"type": "string"},
                            "description": "Exact matches; on GitHub/GitLab.com the owner id is required"},
        "glob": {"type": "object", "properties": {"claim": {"type": "string"}, "pattern": {"type": "string"}}},
        "allowed_events": {"type": "array", "items": {"type": "string"}},
        "orgs": {"type": "array", "items": {"type": "string"}, "description": "Usernames of the team's orgs"},
        "max_lifetime": {"type": "integer", "minimum": 60, "maximum": 3600},
        "enabled": {"type": "boolean"}},
}


ACCESS_REQUEST = {
    "type": "object",
    "required": ["id", "org", "org_id", "requester", "level", "minutes", "reason", "ticket", "break_glass", "state",
                 "approvals", "created_at", "decide_by", "expires_at"],
    "properties": {
        "id": {"type": "string", "format": "uuid"}, "org": {"type": "string"}, "org_id": {"type": "string"},
        "requester": {"type": "string"}, "level": {"enum": ["view", "target", "manage"]},
        "minutes": {"type": "integer"}, "reason": {"type": "string"}, "ticket": {"type": "string"},
        "break_glass": {"type": "boolean"},
        "state": {"enum": ["pending", "approved", "denied", "cancelled", "lapsed", "expired", "ended", "revoked"]},
        "approvals": {"type": "array", "items": {"type": "string"}},
        "created_at": {"type": "string", "format": "date-time"}, "decide_by": {"type": "string", "format": "date-time"},
        "expires_at": {"type": ["string", "null"], "format": "date-time"}},
}
ACCESS_REQUEST_INPUT = {
    "type": "object", "required": ["org", "reason"],
    "properties": {"org": {"type": "string", "description": "alias, username or org id"},
                   "level": {"enum": ["view", "target", "manage"], "default": "target"},
                   "minutes": {"type": "integer", "description": "PORTAL_ACCESS_REQUEST_MIN_MINUTES to _MAX_MINUTES"},
                   "reason": {"type": "string"}, "ticket": {"type": "string"},
                   "break_glass": {"type": "boolean", "description": "activate without approval, if the org allows"}},
}


def schema(*, server_url: str = "/api/v1") -> dict:
    no_store = {"Cache-Control": {"schema": {"type": "string", "const": "no-store"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Org Portal API", "version": "1",
                 "description": "Access tokens for the Salesforce orgs you may target. Authenticate with a portal "
                                "API token: `Authorization: Bearer op_…`. Every answer carries "
                                "`Cache-Control: no-store`."},
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": {
            "/orgs": {"get": {
                "operationId": "listOrgs", "summary": "The orgs the caller can target, one page at a time",
                "parameters": _PAGE,
                "responses": {"200": {"description": "Orgs, ordered by alias; `next` (also a Link header) while more "
                                                     "follow.", "headers": no_store,
                                      "content": {"application/json": {"schema": {
                                          "type": "object", "required": ["orgs", "next_cursor", "next"],
                                          "properties": {"orgs": {"type": "array",
                                                                  "items": {"$ref": "#/components/schemas/Org"}},
                                                         **_NEXT}}}}},
                              **_errors(400, 401)}}},
            "/me": {"get": {
                "operationId": "getMe", "summary": "Who the token acts as: the member (or none for a service "
                                                   "token), the team, the token's kind and expiry",
                "responses": {"200": {"description": "The caller.", "headers": no_store, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Me"}}}}, **_errors(401)}}},
            "/orgs/{ident}/open": {"post": {
                "operationId": "openOrg", "summary": "A single-use frontdoor URL that signs the browser in "
                                                     "(audited, rate-limited like access tokens)",
                "parameters": [_IDENT],
                "responses": {"200": {"description": "The URL (valid once, for a short time).", "headers": no_store,
                                      "content": {"application/json": {"schema": {
                                          "type": "object", "required": ["url"],
                                          "properties": {"url": {"type": "string", "format": "uri"},
                                                         "username": {"type": "string"},
                                                         "org_id": {"type": "string"},
                                                         "alias": {"type": ["string", "null"]}}}}}},
                              **_errors(401, 403, 404, 409, 429, 502, 503)}}},
            "/orgs/{ident}/scratch-orgs": {
                "get": {"operationId": "listScratchOrgs", "summary": "Scratch orgs on a Dev Hub the caller can see",
                        "parameters": [_IDENT, *_PAGE],
                        "responses": {"200": {"description": "Newest first.", "headers": no_store,
                                              "content": {"application/json": {"schema": {
                                                  "type": "object", "required": ["scratch_orgs", "next_cursor"],
                                                  "properties": {"scratch_orgs": {
                                                      "type": "array",
                                                      "items": {"$ref": "#/components/schemas/ScratchOrg"}},
                                                      **_NEXT}}}}},
                                      **_errors(400, 401, 404, 409)}},
                "post": {"operationId": "createScratchOrg",
                         "summary": "Create a scratch org (target level on the Dev Hub, a personal token)",
                         "parameters": [_IDENT, {"name": "wait", "in": "query", "required": False,
                                                 "schema": {"type": "integer", "minimum": 0}}],
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": {"$ref": "#/components/schemas/ScratchOrgRequest"}}}},
                         "responses": {
                             "201": {"description": "Active and connected within `wait`.", "content": {
                                 "application/json": {"schema": {"$ref": "#/components/schemas/ScratchOrg"}}}},
                             "202": {"description": "Requested; poll `status_url` (the Location header).",
                                     "content": {"application/json": {
                                         "schema": {"$ref": "#/components/schemas/ScratchOrg"}}}},
                             **_errors(400, 401, 403, 404, 409, 422)}}},
            "/orgs/{ident}/scratch-orgs/{code}": {
                "parameters": [_IDENT, {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}],
                "get": {"operationId": "getScratchOrg", "summary": "One scratch org and its status",
                        "responses": {"200": {"description": "The scratch org.", "headers": no_store,
                                              "content": {"application/json": {
                                                  "schema": {"$ref": "#/components/schemas/ScratchOrg"}}}},
                                      **_errors(401, 404, 409)}},
                "delete": {"operationId": "deleteScratchOrg", "summary": "Delete it at the Dev Hub (its creator or "
                                                                         "a manager of the Dev Hub)",
                           "responses": {"200": {"description": "Deleted.", "content": {"application/json": {
                               "schema": {"$ref": "#/components/schemas/ScratchOrg"}}}},
                                         **_errors(401, 403, 404, 409, 503)}}},
            "/orgs/{ident}": {"get": {
                "operationId": "getOrg", "summary": "One org the caller can see", "parameters": [_IDENT],
                "responses": {"200": {"description": "The org.", "headers": no_store,
                                      "content": {"application/json": {
                                          "schema": {"$ref": "#/components/schemas/Org"}}}},
                              **_errors(401, 404, 409)}}},
            "/orgs/{ident}/access-token": {"post": {
                "operationId": "getAccessToken", "summary": "A Salesforce access token for an org the caller may "
                                                            "target (audited, rate-limited)",
                "parameters": [_IDENT],
                "responses": {"200": {"description": "A valid access token (cached while valid, else refreshed "
                                                     "or minted).", "headers": no_store,
                                      "content": {"application/json": {
                                          "schema": {"$ref": "#/components/schemas/AccessToken"}}}},
                              **_errors(401, 403, 404, 409, 429, 503)}}},
            "/orgs/{ident}/sandboxes": {
                "get": {"operationId": "listSandboxes", "summary": "The sandboxes of a production org (from the "
                                                                    "portal's inventory)", "parameters": [_IDENT],
                        "responses": {"200": {"description": "Sandboxes by name.", "headers": no_store,
                                              "content": {"application/json": {"schema": {
                                                  "type": "object", "required": ["sandboxes"],
                                                  "properties": {"sandboxes": {
                                                      "type": "array",
                                                      "items": {"$ref": "#/components/schemas/Sandbox"}}}}}}},
                                      **_errors(401, 404)}},
                "post": {"operationId": "createSandbox", "summary": "Create a sandbox (manage level on the "
                                                                     "production org; a personal token): recorded, "
                                                                     "then copied and connected by the workers",
                         "parameters": [_IDENT],
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": {"$ref": "#/components/schemas/SandboxRequest"}}}},
                         "responses": {"202": {"description": "Requested; poll the sandbox for progress.",
                                               "content": {"application/json": {
                                                   "schema": {"$ref": "#/components/schemas/Sandbox"}}}},
                                       "400": {"description": "Invalid input (name, license type, alias…).",
                                               "content": {"application/problem+json": {"schema": _ERROR}}},
                                       **_errors(401, 403, 404)}}},
            "/orgs/{ident}/sandboxes/{name}": {
                "get": {"operationId": "getSandbox", "summary": "One sandbox and the progress of its request",
                        "parameters": [_IDENT, _NAME],
                        "responses": {"200": {"description": "The sandbox.", "headers": no_store,
                                              "content": {"application/json": {
                                                  "schema": {"$ref": "#/components/schemas/Sandbox"}}}},
                                      **_errors(401, 404)}},
                "delete": {"operationId": "deleteSandbox", "summary": "Delete a sandbox and its portal connection",
                           "parameters": [_IDENT, _NAME, {"name": "confirm", "in": "query", "required": True,
                                                          "schema": {"type": "string"},
                                                          "description": "The sandbox name again."}],
                           "responses": {"200": {"description": "Deleted.", "content": {"application/json": {
                               "schema": {"$ref": "#/components/schemas/Sandbox"}}}},
                                         "400": {"description": "Not confirmed, or Salesforce refused (reason).",
                                                 "content": {"application/problem+json": {"schema": _ERROR}}},
                                         **_errors(401, 403, 404)}}},
            "/orgs/{ident}/sandboxes/{name}/refresh": {"post": {
                "operationId": "refreshSandbox", "summary": "Refresh a sandbox; its connection is re-authorized in "
                                                            "place when the copy is done",
                "parameters": [_IDENT, _NAME],
                "responses": {"202": {"description": "Requested.", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Sandbox"}}}},
                              "409": {"description": "Refused now: too early (with the date), or a copy is running.",
                                      "content": {"application/problem+json": {"schema": _ERROR}}},
                              **_errors(401, 403, 404)}}},
            "/oauth/token": {"post": {
                "operationId": "exchangeToken", "security": [],
                "summary": "RFC 8693 token exchange: a CI job's OIDC ID token for an org access token or a "
                           "short-lived portal API token (docs/ci.md)",
                "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
                    "type": "object", "required": ["grant_type", "subject_token", "subject_token_type"],
                    "properties": {
                        "grant_type": {"const": "urn:ietf:params:oauth:grant-type:token-exchange"},
                        "subject_token": {"type": "string", "maxLength": 8192},
                        "subject_token_type": {"enum": ["urn:ietf:params:oauth:token-type:id_token",
                                                        "urn:ietf:params:oauth:token-type:jwt"]},
                        "resource": {"type": "string", "description": "…/api/v1/orgs/<alias, username or org id>"},
                        "audience": {"type": "string", "description": "The org's alias, username or org id"},
                        "requested_token_type": {"enum": ["urn:ietf:params:oauth:token-type:access_token",
                                                          "urn:orgportal:token-type:api-token"]}}}}}},
                "responses": {
                    "200": {"description": "The issued token.", "headers": no_store, "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/TokenExchange"}}}},
                    "400": {"description": "invalid_request (a bad token or no matching policy), invalid_target "
                                           "(the org is outside the policy), unsupported_grant_type.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}}},
                    "429": {"description": "slow_down: too many exchanges or failures; see Retry-After.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}}},
                }}},
            "/trust-policies": {
                "get": {"operationId": "listTrustPolicies", "summary": "The team's CI trust policies (team admins)",
                        "responses": {"200": {"description": "Policies.", "headers": no_store},
                                      **_errors(401, 403)}},
                "post": {"operationId": "createTrustPolicy", "summary": "Create a CI trust policy (team admins)",
                         "requestBody": {"required": True, "content": {"application/json": {"schema": {
                             "$ref": "#/components/schemas/TrustPolicyInput"}}}},
                         "responses": {"201": {"description": "The policy.", "headers": no_store},
                                       **_errors(400, 401, 403)}}},
            "/trust-policies/{code}": {
                "parameters": [{"name": "code", "in": "path", "required": True,
                                "schema": {"type": "string", "format": "uuid"}}],
                "get": {"operationId": "getTrustPolicy", "summary": "One CI trust policy",
                        "responses": {"200": {"description": "The policy.", "headers": no_store},
                                      **_errors(401, 403, 404)}},
                "patch": {"operationId": "changeTrustPolicy",
                          "summary": "Change a policy; `{\"enabled\": false}` disables it (its tokens stop working)",
                          "requestBody": {"required": True, "content": {"application/json": {"schema": {
                              "$ref": "#/components/schemas/TrustPolicyInput"}}}},
                          "responses": {"200": {"description": "The policy.", "headers": no_store},
                                        **_errors(400, 401, 403, 404)}},
                "delete": {"operationId": "deleteTrustPolicy", "summary": "Delete a policy",
                           "responses": {"200": {"description": "Deleted.", "headers": no_store},
                                         **_errors(401, 403, 404)}}},
            "/access-requests": {
                "get": {"operationId": "listAccessRequests", "summary": "Your time-boxed access requests, and those "
                                                                         "waiting for your decision (personal token)",
                        "responses": {"200": {"description": "{requests, to_decide}", "headers": no_store},
                                      **_errors(401, 403)}},
                "post": {"operationId": "requestAccess", "summary": "Request time-boxed access up to your eligible "
                                                                    "level, or break glass where allowed",
                         "requestBody": {"required": True, "content": {"application/json": {"schema": {
                             "$ref": "#/components/schemas/AccessRequestInput"}}}},
                         "responses": {"201": {"description": "The request.", "headers": no_store,
                                               "content": {"application/json": {"schema": {
                                                   "$ref": "#/components/schemas/AccessRequest"}}}},
                                       **_errors(400, 401, 403, 404)}}},
            "/access-requests/{code}": {"get": {
                "operationId": "getAccessRequest", "summary": "One request (its state now)",
                "parameters": [{"name": "code", "in": "path", "required": True,
                                "schema": {"type": "string", "format": "uuid"}}],
                "responses": {"200": {"description": "The request.", "headers": no_store, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/AccessRequest"}}}},
                              **_errors(401, 403, 404)}}},
            "/access-requests/{code}/{action}": {"post": {
                "operationId": "decideAccessRequest",
                "summary": "approve / deny (approvers, not the requester), end (the requester), revoke (team admins)",
                "parameters": [{"name": "code", "in": "path", "required": True,
                                "schema": {"type": "string", "format": "uuid"}},
                               {"name": "action", "in": "path", "required": True,
                                "schema": {"enum": ["approve", "deny", "end", "revoke"]}}],
                "responses": {"200": {"description": "The request.", "headers": no_store, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/AccessRequest"}}}},
                              **_errors(401, 403, 404, 409)}}},
            "/schema": {"get": {"operationId": "getSchema", "summary": "This document", "security": [],
                                "responses": {"200": {"description": "OpenAPI 3.1 JSON."}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "A portal API token (op_…), personal or team service."}},
            "schemas": {"Org": ORG, "AccessToken": ACCESS_TOKEN, "Error": ERROR, "Sandbox": SANDBOX,
                        "SandboxRequest": SANDBOX_REQUEST, "TokenExchange": TOKEN_EXCHANGE,
                        "OAuthError": OAUTH_ERROR, "TrustPolicyInput": TRUST_POLICY_INPUT, "Me": ME,
                        "ScratchOrg": SCRATCH_ORG, "ScratchOrgRequest": SCRATCH_REQUEST,
                        "AccessRequest": ACCESS_REQUEST, "AccessRequestInput": ACCESS_REQUEST_INPUT},
        },
    }
