"""web/openapi.yaml as a checker: every JSON answer and webhook body validated against the schema it documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parents[1] / "web" / "openapi.yaml"


SPEC_URI = "urn:pakat:openapi"


class Spec:
    """The document's response schemas, checked with Draft 2020-12 and its $refs resolved in place."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.registry: Registry[Any] = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(document))

    def response(self, path: str, method: str, status: int) -> dict[str, Any]:
        responses = self.document["paths"][path][method]["responses"]
        assert str(status) in responses, f"{method.upper()} {path} does not document status {status}"
        found = dict(responses[str(status)])
        if "$ref" in found:  # a shared response; the reference's own description overrides
            name = found["$ref"].removeprefix("#/components/responses/")
            found = {**self.document["components"]["responses"][name], **found}
        return found

    def check(self, path: str, method: str, reply: Any) -> Any:
        """Validate ``reply``'s JSON against its operation's schema for its status; return the JSON."""
        documented = self.response(path, method, reply.status_code)
        assert reply.mimetype in documented.get("content", {}), (
            f"{method.upper()} {path} {reply.status_code}: {reply.mimetype} is not documented"
        )
        if reply.mimetype != "application/json":
            return None
        pointer = "/".join(_escape(p) for p in ("paths", path, method, "responses", str(reply.status_code)))
        if "$ref" in self.document["paths"][path][method]["responses"][str(reply.status_code)]:
            pointer = documented["$ref"].removeprefix("#/")
        schema = {"$ref": f"{SPEC_URI}#/{pointer}/content/application~1json/schema"}
        self.validate(schema, reply.json)
        if "error" in reply.json and reply.status_code >= 400:
            code = reply.json["error"]["code"]
            assert f"`{code}`" in documented["description"], (
                f"{method.upper()} {path} {reply.status_code}: {code} is not listed"
            )
        return reply.json

    def validate(self, schema: dict[str, Any], instance: Any) -> None:
        validator = Draft202012Validator(schema, registry=self.registry,
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]
        assert problems == [], problems

    def webhook(self, name: str, body: bytes) -> None:
        pointer = f"webhooks/{_escape(name)}/post/requestBody/content/application~1json/schema"
        self.validate({"$ref": f"{SPEC_URI}#/{pointer}"}, json.loads(body))


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")
