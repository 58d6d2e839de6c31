"""Checks Natter's OpenAPI document: `openapi_check.py DOC.json [SAMPLES.json]`.

DOC must validate as OpenAPI 3 (openapi-spec-validator). Each sample, `{"path", "method",
"status", "body"}` (path as written in the document, e.g. `/v1/chats/{conversation_id}`), must
be listed there with that status, and its body must validate against that answer's JSON schema.
Prints what failed and exits non-zero on any failure.
"""

import json
import sys

import jsonschema
from openapi_spec_validator import validate


def main() -> int:
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    validate(doc)
    failures = []
    samples = []
    if len(sys.argv) > 2:
        with open(sys.argv[2]) as f:
            samples = json.load(f)
    for s in samples:
        where = f"{s['method'].upper()} {s['path']} {s['status']}"
        op = doc["paths"].get(s["path"], {}).get(s["method"].lower())
        if op is None:
            failures.append(f"{where}: not in the document")
            continue
        answer = op["responses"].get(str(s["status"]))
        if answer is None:
            failures.append(f"{where}: status not documented")
            continue
        content = answer.get("content", {}).get("application/json")
        if content is None:
            failures.append(f"{where}: no JSON schema documented")
            continue
        # Root-relative `#/components/...` references resolve against the wrapper.
        schema = {"$ref": "#/x", "x": content["schema"], "components": doc["components"]}
        validator = jsonschema.Draft202012Validator(schema)
        for err in validator.iter_errors(s["body"]):
            failures.append(f"{where}: {err.json_path}: {err.message}")
    for line in failures:
        print(line)
    print(f"checked the document and {len(samples)} answers")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
