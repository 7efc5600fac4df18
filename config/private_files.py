"""Files that hold personal data are private to the user running Elo.

The database (and the ``-wal``/``-shm`` files SQLite makes next to it, which take the database
file's mode), the log files and call recordings are created with mode 0600, and the folders Elo
creates for them with 0700. Files and folders that already exist are left as they are: a shared
folder such as ``/tmp`` or one an operator set up for a group is not Elo's to change.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def make_private_dirs(folder: Path) -> None:
    """Create ``folder`` and any missing parents with mode 0700; existing ones are not touched.

    Args:
        folder: The folder that must exist.
    """
    missing: list[Path] = []
    current = Path(folder)
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # another process made it first: its mode is its creator's choice
        # mkdir's mode is filtered by the umask; set it exactly.
        path.chmod(PRIVATE_DIR_MODE)


def private_opener(path: str | os.PathLike[str], flags: int) -> int:
    """An ``opener`` for :func:`open`: a file it creates gets mode 0600 (whatever the umask)."""
    return os.open(path, flags, PRIVATE_FILE_MODE)


def create_private_file(path: Path) -> None:
    """Create an empty file with mode 0600 unless it exists, and its folders with 0700.

    Used before a library (SQLite, ``wave``) opens the file, so it never exists with a wider
    mode, not even for a moment.

    Args:
        path: The file.
    """
    make_private_dirs(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)
