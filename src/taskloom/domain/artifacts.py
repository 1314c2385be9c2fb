"""Artifact rules: names, media types, link targets. No I/O."""

from __future__ import annotations

import mimetypes
import unicodedata
from typing import Literal

from taskloom.errors import InvalidInput, TooLarge

LinkKind = Literal["task", "stream", "sprint", "project"]
LINK_KINDS: tuple[LinkKind, ...] = ("task", "stream", "sprint", "project")
MAX_ARTIFACT_NAME = 255  # characters, like a file name
MAX_LINKS = 50
MAX_DESCRIPTION = 2000  # characters, as artifacts_upload's schema says
URI_PREFIX = "taskloom://artifacts/"
TEXT_MEDIA = ("application/json", "application/xml", "application/yaml", "application/x-yaml",
              "application/javascript", "application/toml", "application/sql", "image/svg+xml")
# Types mimetypes does not know on every system, and that agents produce all the time.
_EXTRA_TYPES = {
    ".md": "text/markdown", ".markdown": "text/markdown", ".yaml": "application/yaml",
    ".yml": "application/yaml", ".toml": "application/toml", ".log": "text/plain",
    ".patch": "text/x-diff", ".diff": "text/x-diff", ".jsonl": "application/jsonl",
    ".ts": "text/x-typescript", ".rs": "text/x-rust", ".go": "text/x-go", ".sql": "application/sql",
}


# Right-to-left overrides and isolates make 'report\u202etxt.exe' display as 'reportexe.txt'.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def check_description(description: str | None) -> None:
    # The tool's schema holds its callers to this; the HTTP upload URL and the CLI have no schema.
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise TooLarge(
            f"The description is {len(description)} characters; the limit is {MAX_DESCRIPTION}.",
            hint="Shorten the description. Nothing was stored.",
            details={"field": "description", "size": len(description), "limit": MAX_DESCRIPTION},
        )


def check_name(name: str) -> str:
    """A display name like a file name: printable, no path separators, at most 255 characters."""
    name = unicodedata.normalize("NFC", name.strip())
    if not name:
        raise InvalidInput("The artifact name is empty.", hint="Give a file-like name, e.g. 'report.md'.")
    if len(name) > MAX_ARTIFACT_NAME or "/" in name or "\\" in name or any(
        unicodedata.category(c) in ("Cc", "Cs") or c in _BIDI_CONTROLS for c in name
    ):
        raise InvalidInput(
            f"The artifact name {name[:80]!r} is not usable.",
            hint=f"Use a file-like name of at most {MAX_ARTIFACT_NAME} characters, without '/', '\\', control "
            "or bidirectional-override characters.",
        )
    return name


def is_text(media_type: str) -> bool:
    base = media_type.split(";")[0].strip().lower()
    return base.startswith("text/") or base in TEXT_MEDIA or base.endswith(("+json", "+xml"))


def guess_media_type(name: str, head: bytes) -> str:
    """From the name's extension, else from the first bytes: text if it decodes as UTF-8, else binary."""
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix in _EXTRA_TYPES:
        return _EXTRA_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed:
        return guessed
    for magic, media in _MAGIC:
        if head.startswith(magic):
            return media
    return "text/plain" if looks_like_text(head) else "application/octet-stream"


_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
)


def looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut off at the end of the sample is still text.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def check_media_type(media_type: str) -> str:
    base, _, _ = media_type.partition(";")
    kind, slash, sub = base.strip().partition("/")
    if not slash or not kind or not sub or len(media_type) > 200 or any(c.isspace() for c in base.strip()):
        raise InvalidInput(
            f"{media_type[:80]!r} is not a media type.",
            hint="Use type/subtype, e.g. 'text/markdown' or 'image/png', or omit it to have it guessed.",
        )
    return media_type.strip().lower()


def parse_link(link: str) -> tuple[LinkKind, str | None]:
    """'task:T-12', 'stream:api', 'sprint:S1' or 'project'."""
    if link == "project":
        return "project", None
    kind, sep, code = link.partition(":")
    if sep and kind in LINK_KINDS and kind != "project" and code.strip():
        return kind, code.strip()  # type: ignore[return-value]
    raise InvalidInput(
        f"{link[:80]!r} is not a link target.",
        hint="Link to 'task:<code>', 'stream:<code>', 'sprint:<code>' or 'project'.",
    )


def sha_of(ref: str) -> str:
    """The SHA-256 in a `taskloom://artifacts/<sha256>` URI or a bare digest."""
    sha = ref.removeprefix(URI_PREFIX).strip().lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise InvalidInput(
            f"{ref[:100]!r} is not an artifact reference.",
            hint="Pass the artifact's sha256 or its URI (taskloom://artifacts/<sha256>), as artifacts_list shows.",
        )
    return sha


def uri_of(sha256: str) -> str:
    return URI_PREFIX + sha256
