#!/usr/bin/env python3
"""Runs the Athena named queries of a CloudFormation template in DuckDB over a local copy of the
sanitized data lake, and prints their results as JSON (tests/lake_sql.rs compares them with the
digest).

    named_queries.py TEMPLATE LAKE_DIR WINDOWS_JSON

TEMPLATE is template.yaml (or deploy/central.yaml); LAKE_DIR holds the objects as Firehose writes
them: sanitized/dt=YYYY-MM-DD/<name>.gz, gzip NDJSON. WINDOWS_JSON is
{"windows": {"current": [first_dt, last_dt, start_ns, end_ns], ...}, "k": K}.

Nothing of the table or the queries is copied here: the table is the template's LakeTable (its
columns and types, its partition key dt from the objects' directories), read the way its SerDe
reads JSON (org.openx.data.jsonserde.JsonSerDe with case.insensitive, dots.in.keys and
ignore.malformed.json: keys lower-cased, a dot in a key read as an underscore, keys the table
does not name ignored, a line that is not a JSON object read as nulls), and every
AWS::Athena::NamedQuery's QueryString runs as written, its `?` bound in order to the window's
first dt, last dt, start and end (ns), then K. No SQL text is rewritten.
"""
import gzip
import json
import re
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import duckdb
import yaml


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !Sub, ...) read as their long form."""


def _tagged(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {("Ref" if suffix in ("Ref", "Condition") else f"Fn::{suffix}"): value}


CfnLoader.add_multi_constructor("!", _tagged)


def hive_to_duckdb(t):
    """A Hive/Glue column type as DuckDB's, with the struct field names it declares."""
    t = t.strip()
    scalars = {"string": "VARCHAR", "bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN"}
    if t in scalars:
        return scalars[t], None
    m = re.fullmatch(r"struct<(.*)>", t, re.S)
    if not m:
        sys.exit(f"unsupported Glue column type {t!r}")
    fields, depth, start, body = [], 0, 0, m.group(1)
    for i, c in enumerate(body + ","):
        if c == "<":
            depth += 1
        elif c == ">":
            depth -= 1
        elif c == "," and depth == 0:
            fields.append(body[start:i])
            start = i + 1
    out, names = [], {}
    for f in fields:
        name, ftype = f.split(":", 1)
        ddb, sub = hive_to_duckdb(ftype)
        out.append(f'"{name}" {ddb}')
        names[name] = sub
    return "STRUCT(" + ", ".join(out) + ")", names


def serde_value(value, names):
    """A JSON value as the OpenX SerDe reads it into a column whose struct fields are `names`."""
    if names is None:
        return None if isinstance(value, (dict, list)) else value
    if not isinstance(value, dict):
        return None
    out = {}
    for key, v in value.items():
        key = key.lower().replace(".", "_")
        if key in names:
            out[key] = serde_value(v, names[key])
    return out


def main():
    template_path, lake_dir, windows_json = sys.argv[1:4]
    spec = json.loads(windows_json)
    template = yaml.load(Path(template_path).read_text(), Loader=CfnLoader)
    resources = template["Resources"]
    table = resources["LakeTable"]["Properties"]["TableInput"]
    serde = table["StorageDescriptor"]["SerdeInfo"]
    assert serde["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe", serde
    assert serde["Parameters"].get("dots.in.keys") == "true", "the emulation reads dots as underscores"
    assert serde["Parameters"].get("case.insensitive", "true") == "true"
    assert [p["Name"] for p in table["PartitionKeys"]] == ["dt"]
    columns = {}
    for c in table["StorageDescriptor"]["Columns"]:
        columns[c["Name"]] = hive_to_duckdb(c["Type"])

    # The objects, as the table reads them.
    objects = sorted(Path(lake_dir, "sanitized").glob("dt=*/*.gz"))
    if not objects:
        sys.exit(f"no objects under {lake_dir}/sanitized/dt=*/")
    rows = 0
    with tempfile.NamedTemporaryFile("w", suffix=".ndjson", delete=False) as out:
        for obj in objects:
            dt = obj.parent.name.removeprefix("dt=")
            for line in gzip.decompress(obj.read_bytes()).decode().splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    record = None
                fields = {}
                if isinstance(record, dict):
                    for key, v in record.items():
                        key = key.lower().replace(".", "_")
                        if key in columns:
                            fields[key] = serde_value(v, columns[key][1])
                fields["dt"] = dt
                out.write(json.dumps(fields) + "\n")
                rows += 1
        path = out.name
    con = duckdb.connect()
    types = {name: ddb for name, (ddb, _) in columns.items()}
    types["dt"] = "VARCHAR"
    con.execute(
        f"CREATE TABLE {table['Name']} AS SELECT * FROM read_json(?, format = 'newline_delimited', columns = "
        + "{" + ", ".join(f"'{n}': '{t}'" for n, t in types.items()) + "})",
        [path],
    )
    Path(path).unlink()

    def plain(v):
        if isinstance(v, Decimal):
            return float(v)
        return v

    result = {"table_rows": rows, "queries": {}}
    result["distinct_ids"] = con.execute(f"SELECT count(DISTINCT sourceeventid) FROM {table['Name']}").fetchone()[0]
    for name, r in resources.items():
        if r.get("Type") != "AWS::Athena::NamedQuery":
            continue
        sql = r["Properties"]["QueryString"]
        if not isinstance(sql, str):
            sys.exit(f"{name}: QueryString must be literal SQL, not {sql!r}")
        per_window = {}
        for window, params in spec["windows"].items():
            values = (list(params) + [spec["k"]])[: sql.count("?")]
            cur = con.execute(sql, values)
            names = [d[0] for d in cur.description]
            per_window[window] = [{n: plain(v) for n, v in zip(names, row)} for row in cur.fetchall()]
        result["queries"][name] = per_window
    json.dump(result, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
