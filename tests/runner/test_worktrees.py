"""`--worktrees`: a git worktree per worker, with real repositories in tmp_path."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import psutil
import pytest

from taskloom.errors import Conflict, InvalidInput
from taskloom.runner.worktrees import Worktrees, safe_component, unit_names, worker_env


def git(cwd: Path, *args: str) -> str:
    got = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return got.stdout.strip()


def make_repo(path: Path, commit: bool = True) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test")
    git(path, "config", "user.email", "test@example.com")
    if commit:
        (path / "README").write_text("hello\n")
        git(path, "add", "README")
        git(path, "commit", "-q", "-m", "first")
    return path


def commit_file(cwd: Path, name: str, text: str = "work\n") -> str:
    (cwd / name).write_text(text)
    git(cwd, "add", name)
    git(cwd, "commit", "-q", "-m", f"add {name}")
    return git(cwd, "rev-parse", "HEAD")


def registered(repo: Path) -> set[Path]:
    out = git(repo, "worktree", "list", "--porcelain")
    return {Path(line.split(" ", 1)[1]).resolve() for line in out.splitlines() if line.startswith("worktree ")}


def branches(repo: Path) -> set[str]:
    return set(git(repo, "branch", "--format=%(refname:short)").splitlines())


@pytest.fixture
def repo(tmp_path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def trees(repo) -> Worktrees:
    t = Worktrees(repo)
    t.prepare()
    return t


# --- checkout ------------------------------------------------------------------------------------


def test_each_unit_gets_its_own_worktree_on_its_own_branch(repo, trees):
    task = trees.checkout(*unit_names("T-12", None))
    stream = trees.checkout(*unit_names(None, "api"))
    assert task == repo / ".taskloom" / "worktrees" / "T-12"
    assert stream == repo / ".taskloom" / "worktrees" / "stream-api"
    assert git(task, "branch", "--show-current") == "taskloom/T-12"
    assert git(stream, "branch", "--show-current") == "taskloom/stream-api"
    assert (task / "README").read_text() == "hello\n"
    assert {task, stream} <= registered(repo)
    # The worktrees live inside the main checkout but never show in its status.
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_a_retry_after_a_failure_continues_in_the_kept_worktree(trees):
    path = trees.checkout("T-1", "taskloom/T-1")
    done = commit_file(path, "a.txt")
    (path / "half.txt").write_text("not committed yet\n")
    assert "kept" in trees.finish(path, "taskloom/T-1", succeeded=False)
    again = trees.checkout("T-1", "taskloom/T-1")
    assert again == path
    assert git(again, "rev-parse", "HEAD") == done
    assert (again / "half.txt").read_text() == "not committed yet\n"


def test_a_later_run_reuses_the_branch_and_its_commits(repo, trees):
    path = trees.checkout("T-1", "taskloom/T-1")
    done = commit_file(path, "a.txt")
    trees.finish(path, "taskloom/T-1", succeeded=True)
    assert not path.exists()
    again = trees.checkout("T-1", "taskloom/T-1")
    assert git(again, "branch", "--show-current") == "taskloom/T-1"
    assert git(again, "rev-parse", "HEAD") == done


def test_a_directory_taskloom_did_not_make_is_never_touched(trees):
    stray = trees.root / "T-1"
    stray.mkdir()
    (stray / "precious.txt").write_text("mine\n")
    with pytest.raises(Conflict, match="not a git worktree") as err:
        trees.checkout("T-1", "taskloom/T-1")
    assert "Move or delete" in err.value.hint
    assert (stray / "precious.txt").read_text() == "mine\n"


def test_a_worktree_switched_to_another_branch_by_hand_is_not_switched_back(repo, trees):
    path = trees.checkout("T-1", "taskloom/T-1")
    git(path, "switch", "-q", "-c", "mine")
    with pytest.raises(Conflict, match="on mine, not taskloom/T-1"):
        trees.checkout("T-1", "taskloom/T-1")
    assert git(path, "branch", "--show-current") == "mine"


def test_a_branch_checked_out_elsewhere_is_refused_without_force(repo, trees):
    git(repo, "branch", "taskloom/T-1")
    git(repo, "switch", "-q", "taskloom/T-1")
    with pytest.raises(Conflict, match="already checked out") as err:
        trees.checkout("T-1", "taskloom/T-1")
    assert "checked out elsewhere" in err.value.hint
    assert git(repo, "branch", "--show-current") == "taskloom/T-1"


@pytest.mark.parametrize("round_", range(4))
def test_racing_checkouts_of_different_units_all_succeed(repo, round_):
    # Two runners' objects, twelve units at once: unserialised, git's own `worktree add` trips over
    # a sibling's half-written admin directory in most rounds.
    units = [f"T-{n}" for n in range(12)]
    a, b = Worktrees(repo), Worktrees(repo)
    a.prepare()
    b.prepare()
    start = threading.Barrier(len(units))
    got: dict[str, Path] = {}
    errors: list[BaseException] = []

    def go(t: Worktrees, unit: str) -> None:
        start.wait()
        try:
            got[unit] = t.checkout(*unit_names(unit, None))
        except BaseException as exc:  # noqa: BLE001 - reported below, with the unit
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(a if n % 2 else b, u)) for n, u in enumerate(units)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    for unit in units:
        assert git(got[unit], "branch", "--show-current") == f"taskloom/{unit}"
    assert {f"taskloom/{u}" for u in units} <= branches(repo)


# --- finish --------------------------------------------------------------------------------------


def test_success_with_a_clean_tree_removes_the_directory_and_keeps_the_branch(repo, trees):
    path = trees.checkout("T-1", "taskloom/T-1")
    commit_file(path, ".gitignore", "build/\n")
    done = commit_file(path, "a.txt")
    (path / "build").mkdir()
    (path / "build" / "out.o").write_text("ignored output is not work: it goes with the directory\n")
    said = trees.finish(path, "taskloom/T-1", succeeded=True)
    assert not path.exists()
    assert path not in registered(repo)
    assert git(repo, "rev-parse", "taskloom/T-1") == done
    assert said.startswith("removed worktree") and "2 commits beyond HEAD" in said


def test_success_with_no_commits_removes_the_branch_too(repo, trees):
    path = trees.checkout("T-1", "taskloom/T-1")
    said = trees.finish(path, "taskloom/T-1", succeeded=True)
    assert not path.exists()
    assert "taskloom/T-1" not in branches(repo)
    assert "no commits beyond HEAD" in said


def test_a_failed_workers_worktree_is_kept_for_inspection(repo, trees):
    path = trees.checkout("T-1", "taskloom/T-1")
    said = trees.finish(path, "taskloom/T-1", succeeded=False)
    assert path.is_dir() and path in registered(repo)
    assert "taskloom/T-1" in branches(repo)
    assert "kept" in said and "failed" in said


@pytest.mark.parametrize("mess", ["untracked", "modified", "staged"])
def test_uncommitted_changes_keep_the_worktree_after_a_success(repo, trees, mess):
    path = trees.checkout("T-1", "taskloom/T-1")
    if mess == "untracked":
        (path / "new.txt").write_text("x\n")
    else:
        (path / "README").write_text("changed\n")
        if mess == "staged":
            git(path, "add", "README")
    said = trees.finish(path, "taskloom/T-1", succeeded=True)
    assert path.is_dir() and path in registered(repo)
    assert "taskloom/T-1" in branches(repo)
    assert "1 uncommitted change" in said


def test_a_worktree_left_on_a_detached_head_is_kept(repo, trees):
    path = trees.checkout("T-1", "taskloom/T-1")
    git(path, "switch", "-q", "--detach")
    commit_file(path, "only-here.txt")  # reachable from this worktree's HEAD alone
    said = trees.finish(path, "taskloom/T-1", succeeded=True)
    assert (path / "only-here.txt").exists()
    assert "detached HEAD" in said


def test_finish_leaves_paths_outside_its_root_alone(repo, trees, tmp_path):
    other = tmp_path / "elsewhere"
    git(repo, "worktree", "add", "-q", "-b", "theirs", str(other))
    with pytest.raises(InvalidInput, match="not one of taskloom's worktrees"):
        trees.finish(other, "theirs", succeeded=True)
    assert other.is_dir() and other.resolve() in registered(repo)


def test_finish_of_a_worktree_already_gone_says_so(repo, trees):
    path = trees.checkout("T-1", "taskloom/T-1")
    git(repo, "worktree", "remove", str(path))
    assert "already gone" in trees.finish(path, "taskloom/T-1", succeeded=True)
    assert "taskloom/T-1" in branches(repo)


# --- prepare -------------------------------------------------------------------------------------


def test_prepare_prunes_a_worktree_whose_directory_was_deleted_by_hand(repo, trees):
    path = trees.checkout("T-1", "taskloom/T-1")
    done = commit_file(path, "a.txt")
    subprocess.run(["rm", "-rf", str(path)], check=True)
    assert path in registered(repo)  # git still thinks it is there, and would refuse a new add
    again = Worktrees(repo)
    again.prepare()
    assert path not in registered(repo)
    fresh = again.checkout("T-1", "taskloom/T-1")
    assert git(fresh, "rev-parse", "HEAD") == done


def test_checkout_prunes_a_worktree_deleted_after_prepare(repo, trees):
    path = trees.checkout("T-1", "taskloom/T-1")
    subprocess.run(["rm", "-rf", str(path)], check=True)
    assert trees.checkout("T-1", "taskloom/T-1") == path
    assert path.is_dir()


def test_a_directory_that_is_not_a_git_checkout_is_refused_with_a_hint(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(InvalidInput, match="needs a git checkout") as err:
        Worktrees(plain).prepare()
    assert "git init" in err.value.hint
    assert not (plain / ".taskloom").exists()


def test_a_repository_without_a_commit_is_refused_with_a_hint(tmp_path):
    empty = make_repo(tmp_path / "empty", commit=False)
    with pytest.raises(InvalidInput, match="no commit yet") as err:
        Worktrees(empty).prepare()
    assert "git commit --allow-empty" in err.value.hint


def test_a_git_dir_in_the_runners_environment_does_not_redirect_it(repo, tmp_path, monkeypatch):
    other = make_repo(tmp_path / "other")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    trees = Worktrees(repo)
    trees.prepare()
    path = trees.checkout("T-1", "taskloom/T-1")
    monkeypatch.delenv("GIT_DIR")
    monkeypatch.delenv("GIT_WORK_TREE")
    assert path in registered(repo)
    assert "taskloom/T-1" not in branches(other)


def test_a_hanging_hook_is_stopped_at_the_timeout_with_its_children(repo, tmp_path):
    pid_file = tmp_path / "hook.pid"
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 600\n")
    hook.chmod(0o755)
    trees = Worktrees(repo, timeout=2.0)
    trees.prepare()
    with pytest.raises(Conflict, match="did not finish within 2 s") as err:
        trees.checkout("T-1", "taskloom/T-1")
    assert "hook" in err.value.hint
    pid = int(pid_file.read_text())
    with pytest.raises(psutil.NoSuchProcess):
        psutil.Process(pid).wait(timeout=5)  # already gone, or a zombie about to be reaped
        psutil.Process(pid)


# --- dry run -------------------------------------------------------------------------------------


def test_describe_says_what_checkout_would_do_and_changes_nothing(repo):
    trees = Worktrees(repo)
    head = git(repo, "rev-parse", "--short", "HEAD")
    assert trees.describe("T-1", "taskloom/T-1").endswith(f"new branch taskloom/T-1 from HEAD ({head})")
    assert not (repo / ".taskloom").exists() and "taskloom/T-1" not in branches(repo)
    trees.prepare()
    path = trees.checkout("T-1", "taskloom/T-1")
    assert "reused" in trees.describe("T-1", "taskloom/T-1")
    commit_file(path, "a.txt")
    trees.finish(path, "taskloom/T-1", succeeded=True)
    assert "existing branch taskloom/T-1 (1 commit beyond HEAD)" in trees.describe("T-1", "taskloom/T-1")


def test_describe_refuses_a_non_git_directory(tmp_path):
    with pytest.raises(InvalidInput, match="needs a git checkout"):
        Worktrees(tmp_path).describe("T-1", "taskloom/T-1")


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["T-12", "EXP-1", "api", "v1.2", "a_b"])
def test_ordinary_codes_are_kept_as_they_are(code):
    assert safe_component(code) == code


@pytest.mark.parametrize(
    "code", ["A:1", "a..b", "x.", "x.lock", "T-1.lock", "a/b", "a@{b", "a~1^2", "q?*[", "\\x", ".hidden", "-x"]
)
def test_unsafe_codes_are_made_safe_for_git_and_the_file_system(tmp_path, code):
    name = safe_component(code)
    git(tmp_path, "check-ref-format", "--branch", f"taskloom/{name}")  # raises when git refuses it
    assert "/" not in name and name not in (".", "..") and not name.startswith((".", "-"))
    (tmp_path / name).mkdir()


def test_codes_that_differ_only_in_unsafe_characters_get_different_names():
    assert len({safe_component(c) for c in ["A:1", "A-1", "A.1", "A::1", "A:.1"]}) == 5


@pytest.mark.parametrize("code", ["", "a b", "tab\there", "new\nline", "nul\x00", ":::", "..", "@", "x" * 101])
def test_codes_that_cannot_be_made_safe_are_refused(code):
    with pytest.raises(InvalidInput):
        safe_component(code)


def test_unit_names_for_a_task_and_a_stream():
    assert unit_names("T-12", None) == ("T-12", "taskloom/T-12")
    assert unit_names("T-12", "api") == ("T-12", "taskloom/T-12")  # a task unit inside a stream
    assert unit_names(None, "api") == ("stream-api", "taskloom/stream-api")
    with pytest.raises(InvalidInput):
        unit_names(None, None)


@pytest.mark.parametrize(("name", "branch"), [("../escape", "taskloom/x"), ("ok", "taskloom/bad..name"), ("ok", "-b")])
def test_checkout_refuses_unsafe_names_and_creates_nothing(repo, trees, name, branch):
    before = branches(repo)
    with pytest.raises(InvalidInput):
        trees.checkout(name, branch)
    assert branches(repo) == before
    assert not (trees.root.parent / "escape").exists()


def test_worker_env_drops_gits_repository_variables_and_names_the_worktree(tmp_path):
    base = {"PATH": "/bin", "GIT_DIR": "/elsewhere", "GIT_INDEX_FILE": "x", "GIT_AUTHOR_NAME": "me"}
    env = worker_env(base, tmp_path, "taskloom/T-1")
    assert env == {"PATH": "/bin", "GIT_AUTHOR_NAME": "me", "TASKLOOM_WORKTREE": str(tmp_path),
                   "TASKLOOM_BRANCH": "taskloom/T-1"}
    assert base["GIT_DIR"] == "/elsewhere"  # the caller's mapping is left as it was
