"""REST API under /services/data: versions, resources, query/queryAll with paging, sObject rows."""

from __future__ import annotations

import re

from sfsim import objects, sandbox, scratch, soql
from sfsim.model import World
from sfsim.oauth import Caller, bearer
from sfsim.web import Request, Response, json_response, not_found, rest_error

OLDEST_VERSION = 31
LATEST_VERSION = 68
_SEASONS = ("Summer", "Winter", "Spring")
_VERSION_RE = re.compile(r"v(\d+)\.(\d+)")


def version_label(major: int) -> str:
    """31 -> "Summer '14", 68 -> "Winter '27" (three releases a year)."""
    index = major - OLDEST_VERSION
    return f"{_SEASONS[index % 3]} '{14 + (index + 2) // 3:02d}"


def versions(world: World, req: Request) -> Response:
    """GET /services/data/ — no authentication needed."""
    return json_response(
        200,
        [
            {"label": version_label(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
            for v in range(OLDEST_VERSION, LATEST_VERSION + 1)
        ],
    )


def dispatch(world: World, req: Request, segment: str, rest: str) -> Response:
    """Everything below /services/data/<version>."""
    version = _version(segment)
    if isinstance(version, Response):
        return version
    caller = bearer(world, req)
    if isinstance(caller, Response):
        return caller
    req.log["outcome"] = "ok"
    parts = [p for p in rest.split("/") if p]
    if not parts:
        return _only(req, ("GET",)) or _resources(version)
    head, tail = parts[0], parts[1:]
    if head in ("query", "queryAll") and len(tail) <= 1:
        return _only(req, ("GET",)) or (
            _next_page(world, req, caller, tail[0]) if tail else _query(world, req, caller, version)
        )
    if head == "sobjects":
        return _sobjects(world, req, caller, version, tail)
    if head == "tooling":
        return _tooling(world, req, caller, version, tail)
    return not_found()


def _version(segment: str) -> str | Response:
    if segment == "latest":
        return f"{LATEST_VERSION}.0"
    match = _VERSION_RE.fullmatch(segment)
    if not match or int(match.group(1)) > LATEST_VERSION:
        return not_found()
    if int(match.group(1)) < OLDEST_VERSION:
        return rest_error(
            410,
            "UNSUPPORTED_API_VERSION",
            f"API version {match.group(1)}.{match.group(2)} has been retired and is no longer supported",
        )
    return f"{match.group(1)}.{match.group(2)}"


def _only(req: Request, methods: tuple[str, ...]) -> Response | None:
    if req.method in methods:
        return None
    return rest_error(
        405, "METHOD_NOT_ALLOWED", f"HTTP Method '{req.method}' not allowed. Allowed are {','.join(methods)}"
    )


def _resources(version: str) -> Response:
    base = f"/services/data/v{version}"
    names = (
        "tooling",
        "metadata",
        "eclair",
        "folders",
        "prechatForms",
        "contact-tracing",
        "jsonxform",
        "chatter",
        "tabs",
        "appMenu",
        "quickActions",
        "queryAll",
        "commerce",
        "wave",
        "iot",
        "analytics",
        "search",
        "identity",
        "composite",
        "parameterizedSearch",
        "fingerprint",
        "theme",
        "nouns",
        "domino",
        "event",
        "serviceTemplates",
        "recent",
        "connect",
        "licensing",
        "limits",
        "process",
        "async-queries",
        "query",
        "match",
        "emailConnect",
        "compactLayouts",
        "knowledgeManagement",
        "sobjects",
        "actions",
        "support",
    )
    return json_response(200, {name: f"{base}/{name}" for name in names})


# -- query ----------------------------------------------------------------------------------------


def _query(world: World, req: Request, caller: Caller, version: str, *, tooling: bool = False) -> Response:
    text = req.query.get("q")
    if text is None:
        return rest_error(400, "MALFORMED_QUERY", "A query string has to be specified")
    try:
        parsed = soql.parse(text)
        if req.query.get("columns", "").lower() == "true":
            return json_response(200, objects.columns(world, caller.org, parsed, text, tooling=tooling))
        result = objects.execute(world, caller.org, parsed, text, version, tooling=tooling)
    except soql.SoqlError as exc:
        req.log["outcome"] = exc.code
        return rest_error(400, exc.code, str(exc))
    if result.count_only:
        return json_response(200, {"totalSize": result.total, "done": True, "records": []})
    page = world.config.page_size
    if len(result.records) <= page:
        return json_response(200, {"totalSize": result.total, "done": True, "records": result.records})
    cursor = world.new_id("01g", world.cursors)
    state = {"records": result.records, "org": caller.org.id, "page": page, "tooling": tooling}
    world.remember_cursor(cursor, state)
    return json_response(200, _page(version, cursor, result.records, 0, page, tooling=tooling))


def _page(version: str, cursor: str, records: list, offset: int, page: int, *, tooling: bool = False) -> dict:
    chunk = records[offset : offset + page]
    done = offset + page >= len(records)
    body: dict = {"totalSize": len(records), "done": done}
    if not done:
        api = "tooling/query" if tooling else "query"
        body["nextRecordsUrl"] = f"/services/data/v{version}/{api}/{cursor}-{offset + page}"
    body["records"] = chunk
    return body


def _next_page(world: World, req: Request, caller: Caller, locator: str, *, tooling: bool = False) -> Response:
    cursor, _, offset_text = locator.rpartition("-")
    state = world.cursors.get(cursor)
    if (
        state is None
        or state["org"] != caller.org.id
        or state.get("tooling", False) != tooling
        or not offset_text.isdigit()
    ):
        req.log["outcome"] = "INVALID_QUERY_LOCATOR"
        return rest_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    version = _version_of(req.path)
    body = _page(version, cursor, state["records"], int(offset_text), state["page"], tooling=tooling)
    return json_response(200, body)


def _version_of(path: str) -> str:
    match = re.search(r"/services/data/v(\d+\.\d+)/", path)
    return match.group(1) if match else f"{LATEST_VERSION}.0"


# -- tooling --------------------------------------------------------------------------------------


def _tooling(world: World, req: Request, caller: Caller, version: str, tail: list[str]) -> Response:
    """/services/data/vNN.N/tooling/...: query, sobjects (SandboxInfo, SandboxProcess), sandboxAuth."""
    if not tail:
        return _only(req, ("GET",)) or json_response(
            200, {name: f"/services/data/v{version}/tooling/{name}" for name in ("query", "sobjects", "sandboxAuth")}
        )
    head, rest = tail[0], tail[1:]
    if head in ("query", "queryAll") and len(rest) <= 1:
        return _only(req, ("GET",)) or (
            _next_page(world, req, caller, rest[0], tooling=True)
            if rest
            else _query(world, req, caller, version, tooling=True)
        )
    if head == "sandboxAuth" and not rest:
        if caller.org.kind != "production":
            return not_found()
        return _only(req, ("POST",)) or _with_json(req, lambda body: sandbox.sandbox_auth(world, caller, body))
    if head != "sobjects" or not rest or len(rest) > 2:
        return not_found()
    stype = objects.TOOLING_TYPES.get(rest[0].lower())
    if not objects.visible(stype, caller.org) or stype is None:
        return not_found()
    if len(rest) == 1:
        if req.method == "POST":
            if stype is not objects.SANDBOX_INFO:
                return rest_error(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be inserted: {stype.name}")
            return _with_json(req, lambda body: sandbox.create_info(world, caller, body))
        return _only(req, ("GET", "POST")) or json_response(200, _describe(stype, version))
    record_id = rest[1]
    if req.method == "PATCH":
        if stype is objects.SANDBOX_INFO:
            return _with_json(req, lambda body: sandbox.update_info(world, caller, record_id, body))
        if stype is objects.SANDBOX_PROCESS:
            return _with_json(req, lambda body: sandbox.update_process(world, caller, record_id, body))
        return rest_error(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be updated: {stype.name}")
    if req.method == "DELETE":
        if stype is not objects.SANDBOX_INFO:
            return rest_error(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be deleted: {stype.name}")
        return sandbox.delete_info(world, caller, record_id)
    return _only(req, ("GET", "PATCH", "DELETE")) or _get_record(world, req, caller, stype, record_id, version)


def _with_json(req: Request, handle) -> Response:  # noqa: ANN001 (a one-argument callable)
    try:
        body = req.json_body()
    except ValueError:
        return rest_error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON")
    return handle(body)


# -- sobjects -------------------------------------------------------------------------------------


def _sobjects(world: World, req: Request, caller: Caller, version: str, tail: list[str]) -> Response:
    if not tail:
        return _only(req, ("GET",)) or _describe_global(caller, version)
    stype = objects.TYPES.get(tail[0].lower())
    if stype is None or (stype.hub_only and not caller.org.is_devhub) or len(tail) > 2:
        return not_found()
    if len(tail) == 1:
        if req.method == "POST":
            if stype is not objects.SCRATCH_ORG_INFO:
                return rest_error(
                    400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be inserted: {stype.name}"
                )
            try:
                body = req.json_body()
            except ValueError:
                return rest_error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON")
            return scratch.create_info(world, caller, body)
        return _only(req, ("GET", "POST")) or json_response(200, _describe(stype, version))
    record_id = tail[1]
    if req.method == "DELETE":
        if stype is not objects.ACTIVE_SCRATCH_ORG:
            return rest_error(
                400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be deleted: {stype.name}"
            )
        return scratch.delete_active(world, caller, record_id)
    return _only(req, ("GET", "DELETE")) or _get_record(world, req, caller, stype, record_id, version)


def _get_record(
    world: World, req: Request, caller: Caller, stype: objects.SObjectType, record_id: str, version: str
) -> Response:
    row = objects.get_row(world, stype, caller.org, record_id)
    if row is None:
        return not_found()
    fields = None
    if req.query.get("fields"):
        fields = []
        for name in req.query["fields"].split(","):
            canonical = stype.field(name.strip())
            if canonical is None:
                return rest_error(
                    400, "INVALID_FIELD", f"No such column '{name.strip()}' on sobject of type {stype.name}"
                )
            fields.append(canonical)
    return json_response(200, objects.record(stype, row, version, fields))


def _describe(stype: objects.SObjectType, version: str) -> dict:
    api = "tooling/sobjects" if stype.tooling else "sobjects"
    return {
        "objectDescribe": {
            "name": stype.name,
            "label": stype.name,
            "keyPrefix": stype.key_prefix,
            "queryable": True,
            "createable": stype in (objects.SCRATCH_ORG_INFO, objects.SANDBOX_INFO),
            "deletable": stype in (objects.ACTIVE_SCRATCH_ORG, objects.SANDBOX_INFO),
            "urls": {
                "sobject": f"/services/data/v{version}/{api}/{stype.name}",
                "rowTemplate": f"/services/data/v{version}/{api}/{stype.name}/{{ID}}",
            },
        },
        "recentItems": [],
    }


def _describe_global(caller: Caller, version: str) -> Response:
    visible = [t for t in objects.TYPES.values() if not t.hub_only or caller.org.is_devhub]
    return json_response(
        200,
        {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [_describe(t, version)["objectDescribe"] for t in visible],
        },
    )
