"""`taskloom check` and `taskloom projects` as text for people."""

from __future__ import annotations

from taskloom.cli.board import counts_line
from taskloom.models.overview import ProjectList
from taskloom.store.base import CheckReport

ISSUES_SHOWN = 10  # integrity problems listed before "... and N more"


def check(report: CheckReport) -> str:
    version = report.schema_version
    if version is None:
        schema = "unknown"
    elif version == report.expected_schema_version:
        schema = f"{version} (current)"
    elif version < report.expected_schema_version:
        schema = f"{version} (the next taskloom command that opens it migrates it to {report.expected_schema_version})"
    else:
        schema = f"{version} (newer than this taskloom's {report.expected_schema_version})"
    lines = [
        f"taskloom check · {report.file}",
        f"  size            {report.size_bytes:,} bytes (file and WAL)",
        f"  journal mode    {report.journal_mode or 'unknown'}",
        f"  schema version  {schema}",
        f"  integrity       {_listing(report.integrity, ok=['ok'])}",
        f"  foreign keys    {_listing(report.foreign_keys, ok=[])}",
    ]
    if report.ok:
        lines.append("All checks passed.")
    else:
        lines.append("PROBLEMS: " + "; ".join(report.problems) + ".")
        lines.append(
            "Stop every taskloom process using this file and restore it from a backup (copy the -wal file "
            "with it, if there is one). Do not keep writing to a damaged file."
        )
    return "\n".join(lines)


def _listing(found: list[str] | None, ok: list[str]) -> str:
    if found is None:
        return "could not run"
    if found == ok:
        return "ok"
    shown = [f"\n    {line}" for line in found[:ISSUES_SHOWN]]
    more = f"\n    ... and {len(found) - ISSUES_SHOWN} more (--json lists all)" if len(found) > ISSUES_SHOWN else ""
    return f"{len(found)} problem(s):" + "".join(shown) + more


def projects(found: ProjectList) -> str:
    if not found.projects:
        return f"{found.database} holds no projects yet."
    width = max(len(p.name) for p in found.projects)
    lines = [f"Projects in {found.database}"]
    for p in found.projects:
        lines.append(f"  {p.name:<{width}}  {p.total:>6} tasks  {counts_line(p.counts) or '-'}")
    lines.append("Pick one with --project NAME or TASKLOOM_PROJECT=NAME.")
    return "\n".join(lines)
