"""The OpenAPI 3.1 document served at /api/v1/schema. Kept by hand, next to orgs/api.py; tests check that the
API's answers validate against these schemas."""

_ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*statuses: int) -> dict:
    text = {401: "Missing, unknown, expired or revoked API token.",
            403: "The caller can see the org but not target it.",
            404: "No such org among those the caller can see (unknown and invisible look the same).",
            409: "The connection needs re-authorization, or an org id matches several connections.",
            429: "Rate limit per API token; see the Retry-After header.",
            503: "Salesforce is unreachable; retry later."}
    out = {}
    for status in statuses:
        entry = {"description": text[status], "content": {"application/json": {"schema": _ERROR}}}
        if status == 429:
            entry["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
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
        "status": {"type": "string", "enum": ["connected", "degraded", "needs_reauth", "check_needed"]},
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

ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
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
                "operationId": "listOrgs", "summary": "The orgs the caller can target",
                "responses": {"200": {"description": "Orgs, ordered by alias.", "headers": no_store,
                                      "content": {"application/json": {"schema": {
                                          "type": "object", "required": ["orgs"],
                                          "properties": {"orgs": {"type": "array",
                                                                  "items": {"$ref": "#/components/schemas/Org"}}}}}}},
                              **_errors(401)}}},
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
            "/schema": {"get": {"operationId": "getSchema", "summary": "This document", "security": [],
                                "responses": {"200": {"description": "OpenAPI 3.1 JSON."}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "A portal API token (op_…), personal or team service."}},
            "schemas": {"Org": ORG, "AccessToken": ACCESS_TOKEN, "Error": ERROR},
        },
    }
