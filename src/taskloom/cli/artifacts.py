"""`taskloom artifacts ls|get|put`: artifacts for people at a shell."""

from __future__ import annotations

import argparse
import base64
import getpass
import sys
from pathlib import Path

from taskloom.domain.artifacts import URI_PREFIX, sha_of
from taskloom.errors import NotFound
from taskloom.models import Artifact
from taskloom.services.app import Taskloom

# services.artifacts and services.uploads are imported by the functions that call them: every
# command imports this module for its flags, and only `taskloom artifacts` needs them.


def add_parser(sub: argparse._SubParsersAction, common) -> None:
    art = sub.add_parser("artifacts", help="list, read and add artifacts")
    verbs = art.add_subparsers(dest="verb", required=True)

    ls = verbs.add_parser("ls", help="list artifacts, newest first")
    common(ls)
    ls.add_argument("--task")
    ls.add_argument("--stream")
    ls.add_argument("--sprint")
    ls.add_argument("--name", help="substring or glob, e.g. '*.md'")
    ls.add_argument("--type", dest="media_type", help="media type or prefix, e.g. image/")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--json", action="store_true", help="machine-readable output")

    get = verbs.add_parser("get", help="write an artifact's bytes to stdout or a file")
    common(get)
    get.add_argument("artifact", help="sha256 (or 6+ leading digits, as ls shows), or taskloom://artifacts/<sha256>")
    get.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    get.add_argument("--info", action="store_true", help="print the metadata as JSON instead")

    put = verbs.add_parser("put", help="upload a file ('-' reads stdin)")
    common(put)
    put.add_argument("file")
    put.add_argument("--name", help="default: the file's name")
    put.add_argument("--type", dest="media_type", help="default: guessed")
    put.add_argument("--description")
    put.add_argument("--link", action="append", default=[], metavar="TARGET",
                     help="task:T-1, stream:<code>, sprint:<code> or project; repeatable (default: project)")


async def run(app: Taskloom, args: argparse.Namespace) -> int:
    from taskloom.services import artifacts

    if args.verb == "ls":
        page = await app.read(
            artifacts.listing, task=args.task, stream=args.stream, sprint=args.sprint, name=args.name,
            media_type=args.media_type, limit=args.limit,
        )
        if args.json:
            print(page.model_dump_json(indent=2))
        else:
            print(_table(page.artifacts, page.total))
        return 0
    if args.verb == "get":
        meta = await app.read(artifacts.get, await _resolve(app, args.artifact))
        if args.info:
            print(meta.model_dump_json(indent=2))
            return 0
        try:
            data = app.blobs.read(meta.sha256)
        except FileNotFoundError:
            raise NotFound(f"The bytes of {meta.uri} are missing from disk.", hint="Upload the file again.") from None
        if args.output:
            args.output.write_bytes(data)
            print(f"wrote {meta.size} bytes to {args.output}", file=sys.stderr)
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        return 0
    return await _put(app, args)


async def _put(app: Taskloom, args: argparse.Namespace) -> int:
    from taskloom.services import uploads

    agent = app.settings.default_agent or getpass.getuser()
    if args.file == "-":
        source = uploads.Source(content_base64=base64.b64encode(sys.stdin.buffer.read()).decode())
        name = args.name or "stdin"
    else:
        given = Path(args.file)
        if not given.exists():
            # Said here, with the path as typed: past this point it is absolute, resolved against cwd.
            where = "" if given.is_absolute() else f"; relative paths start at {Path.cwd()}"
            raise NotFound(f"No file at {args.file}.", hint=f"Check the path{where}.")
        # The person at the shell may upload any regular file they can read.
        source = uploads.Source(path=str(given.resolve()))
        name = args.name or Path(args.file).name
    result = await uploads.upload(
        app, source, name=name, media_type=args.media_type, description=args.description, links=args.link,
        agent=agent,
    )
    a = result.artifact
    state = "stored" if result.new else "already stored; links added"
    print(f"{a.uri}  {a.size} bytes  {a.media_type}  {a.name}  ({state})")
    return 0


async def _resolve(app: Taskloom, ref: str) -> str:
    from taskloom.services import artifacts

    ref = ref.strip().lower().removeprefix(URI_PREFIX)
    return sha_of(ref) if len(ref) == 64 else await app.read(artifacts.by_prefix, ref)


def _table(items: list[Artifact], total: int) -> str:
    if not items:
        return "no artifacts"
    lines = [f"{'SHA256':12}  {'SIZE':>10}  {'TYPE':24}  {'NAME':30}  LINKS"]
    for a in items:
        lines.append(f"{a.sha256[:12]}  {a.size:>10}  {a.media_type[:24]:24}  {a.name[:30]:30}  {', '.join(a.links)}")
    if total > len(items):
        lines.append(f"... {total - len(items)} more (--limit)")
    return "\n".join(lines)
