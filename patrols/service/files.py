"""The data folder on disk: kept private to the service's user, and cleared of unfinished bundles.

The database holds per-site visit counts and the full bundles hold every
protected site, so the data folder is ``0700`` and every file in it ``0600``
whatever the process umask: folders and files are made with those modes and
existing ones are set to them on start. A bundle is written to
``plans/.<id>.partial/`` and renamed into place when complete; a partial folder
left by a worker that was stopped, and a bundle of a plan that is not done, are
removed on start and when the plan is deleted.

A folder inside a plan's (``delivered/``) is replaced whole with
:func:`replace_dir`: the new one is written beside it under a hidden name and
swapped in, the old one set aside as ``.<name>.old`` for the moment between the
two renames. Hidden entries of a done plan's folder are what a stopped upload
left: on start the old folder is put back if the new one never arrived, and the
rest is removed (:func:`clear_unfinished`).
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
PARTIAL_SUFFIX = ".partial"
OLD_SUFFIX = ".old"


def private_dir(path: str | Path) -> Path:
    """Make a folder (and its parents) if missing and set it to ``0700``.

    Parameters
    ----------
    path
        The folder.

    Returns
    -------
    Path
    """
    path = Path(path)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)
    return path


def private_file(path: str | Path) -> Path:
    """Make an empty file if missing and set it to ``0600``; an existing file keeps its content.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    Path
    """
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def make_private(root: str | Path) -> None:
    """Set a folder and everything under it to ``0700`` (folders) and ``0600`` (files).

    Parameters
    ----------
    root
        The folder; nothing happens if it does not exist.
    """
    root = Path(root)
    if not root.exists():
        return
    os.chmod(root, DIR_MODE)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(Path(folder, name), DIR_MODE)
        for name in files:
            path = Path(folder, name)
            if not stat.S_ISLNK(os.lstat(path).st_mode):
                os.chmod(path, FILE_MODE)


def private_write(path: str | Path, data: bytes) -> Path:
    """Write a new file, ``0600`` from its first byte; an existing file is replaced.

    Parameters
    ----------
    path
        The file.
    data
        Its content.

    Returns
    -------
    Path
    """
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), FILE_MODE)
        fh.write(data)
    return path


def old_dir(path: str | Path) -> Path:
    """Where :func:`replace_dir` sets a folder aside while its replacement moves in: ``.<name>.old``."""
    path = Path(path)
    return path.with_name(f".{path.name}{OLD_SUFFIX}")


def replace_dir(staged: str | Path, target: str | Path) -> None:
    """Put a complete folder in place of another (or where there was none), then remove the old one.

    Readers that hold a lock shared with the writer see the old folder or the
    new, whole; a stop between the two renames leaves the old one as
    ``.<name>.old``, which :func:`clear_unfinished` puts back.

    Parameters
    ----------
    staged
        The new folder, complete, on the same file system.
    target
        The folder it replaces.
    """
    target = Path(target)
    old = old_dir(target)
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.rename(target, old)
    os.rename(staged, target)
    shutil.rmtree(old, ignore_errors=True)


def clear_hidden(folder: str | Path) -> list[str]:
    """Clear a done plan's folder of what an interrupted upload left: hidden files and folders.

    A folder set aside by :func:`replace_dir` whose replacement never moved in
    is put back; every other hidden entry is removed.

    Parameters
    ----------
    folder
        The plan's folder.

    Returns
    -------
    list of str
        The names removed or put back.
    """
    folder = Path(folder)
    done = []
    for entry in sorted(folder.iterdir()):
        if not entry.name.startswith("."):
            continue
        if entry.name.endswith(OLD_SUFFIX) and entry.is_dir() and not entry.is_symlink():
            kept = folder / entry.name[1:-len(OLD_SUFFIX)]
            if not kept.exists():
                os.rename(entry, kept)
                done.append(entry.name)
                continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        done.append(entry.name)
    return done


def partial_dir(out_dir: str | Path) -> Path:
    """Where the bundles of ``plans/<id>`` are written before they are complete: ``plans/.<id>.partial``."""
    out = Path(out_dir)
    return out.with_name(f".{out.name}{PARTIAL_SUFFIX}")


def remove_plan_files(plans_dir: str | Path, plan_id: str) -> None:
    """Remove a plan's bundles and any partial folder of them.

    Parameters
    ----------
    plans_dir
        The data folder's ``plans/``.
    plan_id
        The plan.
    """
    out = Path(plans_dir) / plan_id
    shutil.rmtree(partial_dir(out), ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)


def clear_unfinished(plans_dir: str | Path, done: Iterable[str]) -> list[str]:
    """Remove every partial folder, and every plan folder not of a done plan; clear the done ones.

    A done plan's folder keeps its bundles and is cleared with :func:`clear_hidden`.

    Parameters
    ----------
    plans_dir
        The data folder's ``plans/``.
    done
        Ids of the plans that are done: their bundles stay.

    Returns
    -------
    list of str
        The names removed.
    """
    plans_dir = Path(plans_dir)
    keep = set(done)
    removed = []
    for entry in sorted(plans_dir.iterdir()) if plans_dir.is_dir() else ():
        if entry.name in keep and entry.is_dir() and not entry.is_symlink():
            removed += [f"{entry.name}/{name}" for name in clear_hidden(entry)]
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry.name)
    return removed
