#!/usr/bin/env python3
"""Copy the dashboard, the saved queries, the spend alarms, the data lake, the scheduled digest
and what they need from the single-account template (../template.yaml) into deploy/central.yaml,
so the organisation's central account shows the same dashboard and keeps the same lake as a
single account. Text is copied as written (short
form tags included); only the regions between the `copied from ../template.yaml` markers of
central.yaml and its whole `Mappings:` section are rewritten.

    deploy/sync-from-template.py          # rewrite deploy/central.yaml
    deploy/sync-from-template.py --check  # exit 1 if deploy/central.yaml is out of date

tests/deploy_org.rs fails when the two templates differ in what is copied; this script is the fix.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "template.yaml"
TARGET = ROOT / "deploy" / "central.yaml"

# What is copied, per top-level section: exact entry names, or a regular expression.
# The data lake (Lake*: on in the central account, whose EnableDataLake allows "true" only) and
# the scheduled digest's resources but its log group and function (central has no KMS key, and
# its function's CodeUri is ..), which deploy/central.yaml writes itself.
COPIED = {
    "Parameters": [
        r"DailyBudgetUSD",
        r"MinGroupUsers",
        r"EnableDigest",
        r"DigestSchedule",
        r"DigestWebhookSecretName",
        r"LakeRetentionDays",
        r"LakeReaderArns",
    ],
    "Conditions": [r"HasBudget", r"DigestEnabled", r"DigestCreatesSecret", r"LakeEnabled", r"LakeHasReaders"],
    "Resources": [
        r"DailyBudget\w*Alarm",
        r"UsageDashboard",
        r"OverviewDashboard",
        r"\w+QueryDefinition",
        r"Digest(WebhookSecret|Role|SchedulerRole|WeeklySchedule|ErrorsAlarm)",
        r"Lake\w+",
    ],
}
BEGIN = "  # ======== copied from ../template.yaml by deploy/sync-from-template.py: do not edit here ========"
END = "  # ======== end of the copy from ../template.yaml ========"


def sections(lines):
    """Top-level sections as {name: (start, end)} line ranges (end exclusive)."""
    starts = [(i, l.split(":", 1)[0]) for i, l in enumerate(lines) if re.match(r"^[A-Za-z]", l)]
    out = {}
    for n, (i, name) in enumerate(starts):
        out[name] = (i, starts[n + 1][0] if n + 1 < len(starts) else len(lines))
    return out


def entries(lines, start, end):
    """The 2-space-indented entries of a section, in order: [(name, [lines])]. An entry keeps
    the comment lines directly above it and ends before the next entry's comments or key."""
    out = []
    i = start + 1
    pending = []
    while i < end:
        line = lines[i]
        key = re.match(r"^  ([A-Za-z][A-Za-z0-9]*):", line)
        if key:
            body = pending + [line]
            pending = []
            i += 1
            while i < end and not re.match(r"^  \S", lines[i]):
                body.append(lines[i])
                i += 1
            while body and body[-1].strip() == "":
                body.pop()
            out.append((key.group(1), body))
            continue
        if re.match(r"^  #", line):
            pending.append(line)
        else:
            pending = []
        i += 1
    return out


def copied_text(source_lines, section):
    start, end = sections(source_lines)[section]
    chosen = [
        body
        for name, body in entries(source_lines, start, end)
        if any(re.fullmatch(p, name) for p in COPIED[section])
    ]
    if not chosen:
        sys.exit(f"template.yaml has nothing to copy in {section}")
    text = []
    for body in chosen:
        text.extend(body)
        if section == "Resources":
            text.append("")
    return text


def synced(source_lines, target_lines):
    out = list(target_lines)
    # The whole Mappings section.
    s_start, s_end = sections(source_lines)["Mappings"]
    t_start, t_end = sections(out)["Mappings"]
    mappings = source_lines[s_start:s_end]
    while mappings and mappings[-1].strip() == "":
        mappings.pop()
    out[t_start:t_end] = mappings + [""]
    # The marked regions of the other sections.
    for section in COPIED:
        t_start, t_end = sections(out)[section]
        region = out[t_start:t_end]
        try:
            b, e = region.index(BEGIN), region.index(END)
        except ValueError:
            sys.exit(f"deploy/central.yaml: {section} has no copy markers")
        out[t_start + b + 1 : t_start + e] = copied_text(source_lines, section)
    return out


def main():
    source = SOURCE.read_text().split("\n")
    target = TARGET.read_text().split("\n")
    new = synced(source, target)
    if "--check" in sys.argv[1:]:
        if new != target:
            sys.exit("deploy/central.yaml is out of date: run deploy/sync-from-template.py")
        return
    TARGET.write_text("\n".join(new))


if __name__ == "__main__":
    main()
