"""A git worktree per worker (`taskloom run --worktrees`), on its own branch, with a cleanup policy.

Users of the peers' tools lost work in each of these ways: a tool's cleanup `--force`-removed a
live sibling's worktree, deleting a workspace took its unmerged branch with it, a worktree whose
directory was deleted by hand blocked every later `worktree add`, and `refs/stash` (shared by all
worktrees) let one agent pop another's changes. So this module only ever touches worktrees under
its own root, never passes `--force`, never deletes a branch that holds work, keeps whatever a
failed worker left for a person to look at, and prunes stale registrations before it starts.

It knows nothing of the supervisor: the runner asks for a checkout per unit of work and says how
the worker ended. Every call is blocking (git subprocesses); an async caller runs them in a thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from taskloom.errors import Conflict, InvalidInput

GIT_TIMEOUT = 120.0  # seconds per git call: a checkout of a big tree, or a slow post-checkout hook
LOCK_TRIES = 5  # attempts of `worktree add` while another git process holds a lock it needs
LOCK_PAUSE = 0.05  # seconds before the second attempt, doubling after
BRANCH_PREFIX = "taskloom/"
MAX_NAME = 100  # characters of a unit's directory and branch component

# `git rev-parse --local-env-vars`: set in the runner's environment (a git hook, a wrapper), they
# would point every git call, ours and the workers', at another repository or index.
GIT_LOCAL_ENV = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE", "GIT_COMMON_DIR",
)
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9_-]+")
# Worth another try: a lock another git process holds for milliseconds, or (from a `worktree add`
# not serialised by us, e.g. a person's) another add's half-written admin directory.
_LOCKED = re.compile(
    r"\.lock'?: File exists|Unable to create '[^']*\.lock'|could not lock config file|failed to read \S*/commondir"
)


def safe_component(code: str) -> str:
    """`code` as one component of a branch name and a directory name.

    A code that already obeys `git check-ref-format` (and is a plain file name) is kept as it is.
    Any other gets its unsafe characters replaced and a hash of the original appended, so two
    codes that differ only in those characters (`A:1`, `A-1`) never share a branch.
    """
    if not code or len(code) > MAX_NAME or any(not ch.isprintable() or ch.isspace() for ch in code):
        raise InvalidInput(
            f"{code!r} cannot name a git branch or a directory.",
            hint="Use task and stream codes of at most 100 printable characters without spaces.",
        )
    if _SAFE.fullmatch(code) and not code.endswith(".lock"):
        return code
    stem = _UNSAFE_RUN.sub("-", code).strip("-")
    if not stem:
        raise InvalidInput(
            f"{code!r} has no letter or digit to name a git branch or a directory by.",
            hint="Give the task or stream a code with letters or digits (e.g. T-12).",
        )
    return f"{stem}-{hashlib.sha1(code.encode()).hexdigest()[:8]}"


def unit_names(task: str | None, stream: str | None) -> tuple[str, str]:
    """(directory name, branch) of a unit's worktree: `T-12`, `taskloom/T-12` for a task, and
    `stream-api`, `taskloom/stream-api` for a stream unit."""
    if task is not None:
        name = safe_component(task)
    elif stream is not None:
        name = f"stream-{safe_component(stream)}"
    else:
        raise InvalidInput("A unit of work names a task or a stream.", hint="Pass task= or stream=.")
    return name, BRANCH_PREFIX + name


def worker_env(env: Mapping[str, str], path: Path, branch: str) -> dict[str, str]:
    """A worker's environment for its worktree: git's repository-locating variables dropped (they
    would send its git commands elsewhere), and where it works named."""
    out = {k: v for k, v in env.items() if k not in GIT_LOCAL_ENV}
    out["TASKLOOM_WORKTREE"] = str(path)
    out["TASKLOOM_BRANCH"] = branch
    return out


@dataclass(frozen=True)
class _Registered:
    path: Path
    branch: str | None  # None when detached
    prunable: bool  # registered, its directory gone


class Worktrees:
    """The worktrees of one repository's workers, under `root` (default `<repo>/.taskloom/worktrees`)."""

    def __init__(self, repo: Path, root: Path | None = None, *, timeout: float = GIT_TIMEOUT) -> None:
        self.repo = Path(repo).resolve()
        self.root = (Path(root) if root is not None else self.repo / ".taskloom" / "worktrees").resolve()
        self.timeout = timeout

    # ---- the runner's calls ---------------------------------------------------------------

    def prepare(self) -> None:
        """Check the repository, forget worktrees whose directory was deleted by hand (a stale
        registration blocks `worktree add` for that path and branch), and keep the root out of
        the main checkout's `git status`."""
        self._check()
        self._must("worktree", "prune")
        self.root.mkdir(parents=True, exist_ok=True)
        ignore = self.root / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# taskloom's worker worktrees: not part of this checkout\n*\n")

    def checkout(self, name: str, branch: str) -> Path:
        """The worktree `root/<name>` on `branch`: a new branch from HEAD, or the branch as an
        earlier attempt left it (its commits, and its uncommitted changes when its worktree was
        kept), so a retry goes on where the last worker stopped."""
        self._names(name, branch)
        path = self.root / name
        with self._serialised():
            return self._checkout(path, branch)

    def _checkout(self, path: Path, branch: str) -> Path:
        for attempt in range(LOCK_TRIES):
            there = self._registered().get(path)
            if there is not None and not there.prunable:
                return self._reuse(there, branch)
            if there is not None:  # registered, its directory deleted by hand since prepare()
                self._must("worktree", "prune")
            if path.exists():
                raise Conflict(
                    f"{path} exists but is not a git worktree; taskloom will not touch it.",
                    hint=f"Move or delete {path} by hand, then run again.",
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            if self._branch_exists(branch):
                argv = ["worktree", "add", str(path), branch]
            else:
                argv = ["worktree", "add", "-b", branch, str(path), "HEAD"]
            got = self._git(*argv)
            if got.returncode == 0:
                return path
            if not _LOCKED.search(got.stderr) or attempt == LOCK_TRIES - 1:
                raise _failed(argv, got, hint=_add_hint(got.stderr, branch))
            time.sleep(LOCK_PAUSE * 2**attempt)  # another git holds a lock: it lets go in ms
        raise AssertionError("unreachable")

    def finish(self, path: Path, branch: str, succeeded: bool) -> str:
        """Apply the cleanup policy to a worker's worktree and say what was done.

        Success with nothing uncommitted: the directory goes, the branch stays (the work is on
        it); a branch with no commits beyond HEAD is deleted with `git branch -d`, which git
        itself refuses for unmerged work. Failure, uncommitted changes, or a worktree moved off
        its branch: everything stays for a person to look at.
        """
        path = Path(path).resolve()
        self._own(path)
        there = self._registered().get(path)
        if there is None or there.prunable:
            return f"worktree {path} is already gone; branch {branch} kept"
        if there.branch != branch:
            where = there.branch or "a detached HEAD"
            return f"kept worktree {path}: the worker left it on {where}, not {branch}"
        if not succeeded:
            return f"kept worktree {path} (branch {branch}) for inspection: the worker failed"
        status = self._must("status", "--porcelain", "--untracked-files=normal", cwd=path).stdout
        if status.strip():
            n = len(status.splitlines())
            return f"kept worktree {path} (branch {branch}): {n} uncommitted change{'s' * (n != 1)}"
        removed = self._git("worktree", "remove", str(path))
        if removed.returncode != 0:  # locked, or changed since we looked: leave it be
            return f"kept worktree {path} (branch {branch}): git worktree remove said {_said(removed)}"
        ahead = int(self._must("rev-list", "--count", f"HEAD..refs/heads/{branch}").stdout.strip() or 0)
        if ahead == 0 and self._git("branch", "-d", branch).returncode == 0:
            return f"removed worktree {path} and branch {branch}: it had no commits beyond HEAD"
        return f"removed worktree {path}; branch {branch} kept ({_commits(ahead)} beyond HEAD)"

    def describe(self, name: str, branch: str) -> str:
        """What checkout() would do, for --dry-run; changes nothing."""
        self._check()
        self._names(name, branch)
        path = self.root / name
        there = self._registered().get(path)
        if there is not None and not there.prunable:
            return f"worktree: {path} (exists, on {there.branch or 'a detached HEAD'}), reused"
        if self._branch_exists(branch):
            ahead = int(self._must("rev-list", "--count", f"HEAD..refs/heads/{branch}").stdout.strip() or 0)
            return f"worktree: {path}, new, on the existing branch {branch} ({_commits(ahead)} beyond HEAD)"
        head = self._must("rev-parse", "--short", "HEAD").stdout.strip()
        return f"worktree: {path}, new, on a new branch {branch} from HEAD ({head})"

    # ---- checks ---------------------------------------------------------------------------

    def _check(self) -> None:
        if not self.repo.is_dir():
            raise InvalidInput(f"{self.repo} is not a directory.", hint="Run from (or give --workdir) a git checkout.")
        inside = self._git("rev-parse", "--is-inside-work-tree")
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            raise InvalidInput(
                f"--worktrees needs a git checkout, and {self.repo} is not one ({_said(inside)}).",
                hint="Run in a git repository's work tree (`git init` and a first commit), or drop --worktrees.",
            )
        if self._git("rev-parse", "--verify", "--quiet", "HEAD^{commit}").returncode != 0:
            raise InvalidInput(
                f"The repository at {self.repo} has no commit yet: a worktree branches from one.",
                hint="Make a first commit (`git commit --allow-empty -m init`), then run again.",
            )

    def _names(self, name: str, branch: str) -> None:
        if safe_component(name) != name:
            raise InvalidInput(f"{name!r} is not a safe worktree name.", hint="Build names with unit_names().")
        if self._git("check-ref-format", "--branch", branch).returncode != 0:
            raise InvalidInput(f"{branch!r} is not a valid git branch name.", hint="Build names with unit_names().")

    def _own(self, path: Path) -> None:
        if path.parent != self.root:
            raise InvalidInput(
                f"{path} is not one of taskloom's worktrees (under {self.root}); it is left alone.",
                hint="Pass the path that checkout() returned.",
            )

    def _registered(self) -> dict[Path, _Registered]:
        out: dict[Path, _Registered] = {}
        for block in self._must("worktree", "list", "--porcelain").stdout.split("\n\n"):
            fields = dict((line.split(" ", 1) + [""])[:2] for line in block.splitlines() if line)
            if "worktree" not in fields:
                continue
            ref = fields.get("branch", "")
            path = Path(fields["worktree"]).resolve()
            out[path] = _Registered(
                path=path,
                branch=ref.removeprefix("refs/heads/") if ref else None,
                prunable="prunable" in fields,
            )
        return out

    def _reuse(self, there: _Registered, branch: str) -> Path:
        if there.branch != branch:
            raise Conflict(
                f"The worktree {there.path} is on {there.branch or 'a detached HEAD'}, not {branch}; "
                "taskloom will not switch it.",
                hint=f"Look at it, then `git worktree remove {there.path}` (or switch it back to {branch}).",
            )
        return there.path

    @contextlib.contextmanager
    def _serialised(self) -> Iterator[None]:
        """One `worktree add` at a time among taskloom's runners on this repository: git reads
        every worktree's admin directory while adding one, and fails on another add's half-written
        one ("failed to read .git/worktrees/T-2/commondir")."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # held for one git call or two, each with a timeout
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _branch_exists(self, branch: str) -> bool:
        return self._git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}").returncode == 0

    # ---- running git ----------------------------------------------------------------------

    def _git(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        argv = ["git", *args]
        env = {k: v for k, v in os.environ.items() if k not in GIT_LOCAL_ENV}
        env["LC_ALL"] = "C"  # git's messages, matched for lock contention, in one language
        env["GIT_TERMINAL_PROMPT"] = "0"
        try:
            # Its own session: a timeout kills git and any hook it started, so no grandchild
            # holds the pipes open and no hook outlives the call.
            proc = subprocess.Popen(
                argv, cwd=cwd or self.repo, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, start_new_session=True,
            )
        except FileNotFoundError:
            raise InvalidInput("git is not installed (or not on PATH).", hint="Install git, or drop --worktrees.") from None
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise Conflict(
                f"`{' '.join(argv)}` did not finish within {self.timeout:g} s and was stopped.",
                hint="A git hook or a lock may hang; run the command by hand in "
                f"{cwd or self.repo} to see why, then run again.",
            ) from None
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

    def _must(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        got = self._git(*args, cwd=cwd)
        if got.returncode != 0:
            raise _failed(list(args), got)
        return got


def _commits(n: int) -> str:
    return f"{n} commit{'s' * (n != 1)}"


def _said(got: subprocess.CompletedProcess[str]) -> str:
    return (got.stderr.strip() or got.stdout.strip() or f"exit {got.returncode}").replace("\n", " ")


def _failed(args: list[str], got: subprocess.CompletedProcess[str], hint: str | None = None) -> Conflict:
    return Conflict(
        f"`git {' '.join(args)}` failed: {_said(got)}",
        hint=hint or "Run that git command by hand to see why, fix it, then run again.",
        details={"stderr": got.stderr},
    )


def _add_hint(stderr: str, branch: str) -> str:
    if "already checked out" in stderr or "already used by worktree" in stderr:
        return f"{branch} is checked out elsewhere; switch that checkout to another branch, then run again."
    if "cannot lock ref" in stderr:
        return f"A branch named like {branch} or its prefix exists; rename it (`git branch -m`), then run again."
    return "Run that git command by hand to see why, fix it, then run again."
