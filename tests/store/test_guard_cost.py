"""The redaction guard does not scan again what the services masked (a review finding of issue 11, item 3).

Redaction is the costliest per-byte work of a write (about 12 ms for a 64 KB description, up to
60 ms for adversarial text), and both scans run inside the write transaction, so every other
process waits on the write lock for both. Counted here by wrapping the pure `redact` and `redacted_only` functions in
the two modules that call it; the store and the file are real.
"""

from __future__ import annotations

from taskloom.domain.redact import Masked
from taskloom.models import TaskSpec
from taskloom.services import creation
from taskloom.store import guard

DESCRIPTION = ("lorem ipsum dolor sit amet " * 3000)[:60_000]


async def test_a_stored_description_is_scanned_for_secrets_once(app, monkeypatch):
    scans: list[str] = []

    def long_unmasked(text) -> bool:
        return isinstance(text, str) and not isinstance(text, Masked) and len(text) >= len(DESCRIPTION)

    # A text is scanned alone (`redact`) or in a column of a batch (`redacted_only`): both count.
    for module in (creation, guard):
        for fname, holds in (("redact", long_unmasked), ("redacted_only", lambda texts: any(map(long_unmasked, texts)))):
            real = getattr(module, fname, None)
            if real is None:
                continue

            def counting(text, *args, _real=real, _holds=holds, _name=f"{module.__name__}.{fname}", **kwargs):
                if _holds(text):
                    scans.append(_name)
                return _real(text, *args, **kwargs)

            monkeypatch.setattr(module, fname, counting)
    await app.write(creation.create_tasks, [TaskSpec(title="big", description=DESCRIPTION)], agent="boss")
    assert len(scans) == 1, f"the description was scanned {len(scans)} times: {scans}"


async def test_a_failure_reason_is_scanned_for_secrets_once(app, monkeypatch):
    import sys

    from taskloom.domain import redact as redaction
    from taskloom.services import work

    real = redaction.redact
    scans: list[str] = []

    def counting(text, *args, **kwargs):
        if isinstance(text, str) and not isinstance(text, Masked) and len(text) >= len(DESCRIPTION) // 2:
            scans.append("scan")
        return real(text, *args, **kwargs)

    for name, module in list(sys.modules.items()):
        if name.startswith("taskloom") and getattr(module, "redact", None) is real:
            monkeypatch.setattr(module, "redact", counting)
    await app.write(creation.create_tasks, [TaskSpec(title="a", code="A")], agent="boss")
    await app.write(work.claim, code="A", agent="w")
    await app.write(work.fail, "A", DESCRIPTION, True, agent="w")
    assert len(scans) == 1, f"the reason was scanned {len(scans)} times"
