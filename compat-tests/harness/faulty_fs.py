"""A passthrough FUSE filesystem (fusepy over libfuse 2) that starts failing
on demand: it mirrors BACKING at MOUNTPOINT until a file named TRIGGER
exists, then answers every fsync with EIO (`fsync` in TRIGGER) or every
write and fsync (`write`). A disk that accepts writes into the page cache
but cannot make them durable is the case where a broker could acknowledge
what it never synced.

    python -m harness.faulty_fs BACKING MOUNTPOINT TRIGGER

Runs in the foreground until unmounted (`umount MOUNTPOINT`). Prints
"mounted" once the mount is in place.
"""
from __future__ import annotations

import errno
import os
import sys
import threading
import time

from fuse import FUSE, FuseOSError, Operations


class FaultyPassthrough(Operations):
    def __init__(self, backing: str, trigger: str):
        self.backing, self.trigger = backing, trigger
        self.failures = 0

    def _path(self, path: str) -> str:
        return os.path.join(self.backing, path.lstrip("/"))

    def _failing(self, operation: str) -> bool:
        try:
            with open(self.trigger) as f:
                mode = f.read().strip() or "fsync"
        except FileNotFoundError:
            return False
        return operation == "fsync" or mode == "write"

    def _fail_if(self, operation: str) -> None:
        if self._failing(operation):
            self.failures += 1
            raise FuseOSError(errno.EIO)

    # Metadata and namespace: passed through.
    def getattr(self, path, fh=None):
        st = os.lstat(self._path(path))
        keys = ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink", "st_size", "st_uid")
        return {key: getattr(st, key) for key in keys}

    def readdir(self, path, fh):
        return [".", "..", *os.listdir(self._path(path))]

    def mkdir(self, path, mode):
        return os.mkdir(self._path(path), mode)

    def rmdir(self, path):
        return os.rmdir(self._path(path))

    def unlink(self, path):
        return os.unlink(self._path(path))

    def rename(self, old, new):
        return os.rename(self._path(old), self._path(new))

    def chmod(self, path, mode):
        return os.chmod(self._path(path), mode)

    def utimens(self, path, times=None):
        return os.utime(self._path(path), times)

    def statfs(self, path):
        st = os.statvfs(self._path(path))
        keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag",
                "f_frsize", "f_namemax")
        return {key: getattr(st, key) for key in keys}

    # Files.
    # Every handle may read (the kernel reads pages through whichever handle
    # it holds) and writes where the kernel says (it resolves O_APPEND).
    def open(self, path, flags):
        if flags & os.O_ACCMODE == os.O_WRONLY:
            flags = (flags & ~os.O_ACCMODE) | os.O_RDWR
        return os.open(self._path(path), flags & ~os.O_APPEND)

    def create(self, path, mode, fi=None):
        return os.open(self._path(path), os.O_RDWR | os.O_CREAT | os.O_TRUNC, mode)

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        self._fail_if("write")
        return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        self._fail_if("write")
        with open(self._path(path), "r+b") as f:
            f.truncate(length)

    def flush(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        self._fail_if("fsync")
        return os.fdatasync(fh) if datasync else os.fsync(fh)

    def fsyncdir(self, path, datasync, fh):
        self._fail_if("fsync")
        return 0

    def release(self, path, fh):
        return os.close(fh)


def announce_when_mounted(mountpoint: str) -> None:
    for _ in range(400):
        if os.path.ismount(mountpoint):
            print("mounted", flush=True)
            return
        time.sleep(0.025)


def main(backing: str, mountpoint: str, trigger: str) -> int:
    threading.Thread(target=announce_when_mounted, args=(mountpoint,), daemon=True).start()
    FUSE(FaultyPassthrough(backing, trigger), mountpoint, foreground=True, nothreads=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
