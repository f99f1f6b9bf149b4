#!/usr/bin/env python3
"""The Python peer, re-implemented for a CPU comparison (docs/performance.md, "Against the
Python peer"): the sanitizer Lambda of the public blog stack this project replaces, as
shared/reference/peers.md describes it.

It keeps every event (no event allowlist) with a fixed attribute set: cost_usd, user.email (raw),
session.id, tool_name, input_tokens, cache_read_tokens, model, skill.name; resource user.plan,
service.name, service.version; from tool_parameters, subagent_type for the Agent tool and
mcp_server_name for mcp_tool. Like our CLI, it reads a subscription payload file and prints one
JSON line per kept event (the Lambda would PutLogEvents them instead). Standard library only.

    python3 benches/python_peer.py PAYLOAD.json > /dev/null
"""
import base64
import gzip
import json
import sys

KEPT = ("cost_usd", "user.email", "session.id", "tool_name", "input_tokens", "cache_read_tokens", "model", "skill.name")
RESOURCE_KEPT = ("user.plan", "service.name", "service.version")


def sanitize(record):
    attributes = record.get("attributes") or {}
    resource = (record.get("resource") or {}).get("attributes") or {}
    out = {k: attributes[k] for k in KEPT if k in attributes}
    out["event.name"] = attributes.get("event.name")
    params = attributes.get("tool_parameters")
    if isinstance(params, str) and params:
        try:
            params = json.loads(params)
        except ValueError:
            params = {}
        if isinstance(params, dict):
            if attributes.get("tool_name") == "Agent" and "subagent_type" in params:
                out["tool.subagent_type"] = params["subagent_type"]
            if attributes.get("tool_name") == "mcp_tool" and "mcp_server_name" in params:
                out["tool.mcp_server_name"] = params["mcp_server_name"]
    return {
        "body": record.get("body"),
        "attributes": out,
        "resource": {"attributes": {k: resource[k] for k in RESOURCE_KEPT if k in resource}},
    }


def main(path):
    with open(path, "rb") as f:
        envelope = json.load(f)
    payload = json.loads(gzip.decompress(base64.b64decode(envelope["awslogs"]["data"])))
    write = sys.stdout.write
    for event in payload["logEvents"]:
        try:
            record = json.loads(event["message"])
        except ValueError:
            continue
        if isinstance(record, dict):
            write(json.dumps(sanitize(record), separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
