"""Group commit (notify.groupcommit): outcomes ready together are written in one transaction,
and each caller still gets exactly what writing its own outcome alone would give it."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from floodwatch.notify.groupcommit import GroupCommit

WAIT = 10.0  # seconds a thread may take to get where the test waits for it (never reached)


class Commits:
    """A commit function that records each group, fails any group holding a "bad" item, and
    can hold its first call until the test lets it go."""

    def __init__(self, hold_first: bool = False) -> None:
        self.groups: list[list[str]] = []
        self.entered = threading.Event()
        self.go = threading.Event()
        if not hold_first:
            self.go.set()

    def __call__(self, items: list[str]) -> None:
        first = not self.groups
        self.groups.append(list(items))
        if first:
            self.entered.set()
            assert self.go.wait(WAIT)
        if "bad" in items:
            raise ValueError(f"cannot write {items}")


def in_thread(target: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def until(condition: Callable[[], bool]) -> None:
    done = threading.Event()
    for _ in range(int(WAIT / 0.001)):
        if condition():
            return
        done.wait(0.001)
    raise AssertionError("the threads never got there")


def test_an_item_alone_is_written_at_once() -> None:
    commits = Commits()
    group = GroupCommit(commits)
    group.write("a")
    group.write("b")
    assert commits.groups == [["a"], ["b"]]
    assert group.queued == 0


def while_a_commit_runs(items: tuple[str, ...]) -> tuple[Commits, dict[str, list[BaseException]]]:
    """ "a" is being committed (held) while `items` are handed in from threads of their own;
    then it finishes. The commits made, and what each item's caller raised."""
    commits = Commits(hold_first=True)
    group = GroupCommit(commits)
    first = in_thread(lambda: group.write("a"))
    assert commits.entered.wait(WAIT)
    others = {item: in_thread(lambda item=item: group.write(item)) for item in items}
    until(lambda: group.queued == len(items))
    commits.go.set()
    for item, (thread, _) in {"a": first, **others}.items():
        thread.join(WAIT)
        assert not thread.is_alive(), f"the caller of {item!r} never returned"
    assert group.queued == 0
    return commits, {item: errors for item, (_, errors) in {"a": first, **others}.items()}


def test_items_handed_in_while_a_commit_runs_go_in_the_next_commit_together() -> None:
    commits, errors = while_a_commit_runs(("b", "c", "d"))
    assert errors == {"a": [], "b": [], "c": [], "d": []}
    assert commits.groups[0] == ["a"]
    assert len(commits.groups) == 2 and sorted(commits.groups[1]) == ["b", "c", "d"]


def test_a_failed_group_is_written_item_by_item_and_only_the_bad_items_caller_fails() -> None:
    commits, errors = while_a_commit_runs(("good", "bad"))
    assert errors["a"] == [] and errors["good"] == []
    assert [type(e) for e in errors["bad"]] == [ValueError]
    assert "['bad']" in str(errors["bad"][0])  # its own error, written alone
    assert sorted(commits.groups[1]) == ["bad", "good"]  # the group, which failed
    assert sorted(commits.groups[2:]) == [["bad"], ["good"]]  # then each alone


def test_an_item_alone_that_fails_is_not_written_twice() -> None:
    commits = Commits()
    group = GroupCommit(commits)
    with pytest.raises(ValueError, match="bad"):
        group.write("bad")
    assert commits.groups == [["bad"]]
    group.write("a")  # the next is written as usual
    assert commits.groups == [["bad"], ["a"]]
