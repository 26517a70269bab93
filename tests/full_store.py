"""Store faults made for real: stores that refuse writes and take them again (a full disk, a
Redis out of memory), and a process holding a Redis lock, to be killed.

`FullDisk` is a small tmpfs (where the machine lets us mount one: root on Linux) filled up with
a ballast file, or else a folder made read-only (for a user whose permissions the system
enforces). `FullRedis` puts ballast keys into a redis-server beyond its `maxmemory`, under
`noeviction`. `fill()` makes the store refuse writes; `free()` lets it
recover. Reads go on working in both, as they do on a full disk or an out-of-memory Redis.
"""

import os
import subprocess
from pathlib import Path

import redis

BALLAST_CHUNK = 4096
# A process that holds a Redis lock (`python -c LOCK_HOLDER <url> <lease> <hold>`), to be killed.
LOCK_HOLDER = """
import sys, time, redis
from store.redis_backend import RedisBackend
backend = RedisBackend(redis.Redis.from_url(sys.argv[1]), lease=float(sys.argv[2]))
with backend.lock("tokens-of-someone", wait=1, hold=float(sys.argv[3])):
    print("held", flush=True)
    time.sleep(3600)
"""


class FullDisk:
    """A folder for SESSION_FILE_DIR whose writes can be refused (`fill`) and let through
    again (`free`)."""

    def __init__(self, folder: Path, size_kib: int = 512) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0700", "tmpfs", str(folder)],
            capture_output=True,
        )
        self.tmpfs = mounted.returncode == 0
        if not self.tmpfs and os.geteuid() == 0:
            raise AssertionError(
                f"cannot mount a tmpfs, and a read-only folder does not stop root: "
                f"{mounted.stderr.decode().strip()}"
            )
        self.sessions = folder / "sessions"
        self.ballast = folder / "ballast"

    def fill(self) -> None:
        """Let no more writes through: the tmpfs filled to its last byte, or else the folder
        of entries made read-only."""
        entries = self.sessions / "entries"
        if not self.tmpfs:
            entries.chmod(0o500)
            return
        with self.ballast.open("ab", buffering=0) as ballast:
            for size in (BALLAST_CHUNK, 1):
                try:
                    while True:
                        ballast.write(b"\0" * size)
                except OSError:
                    pass
        probe = entries / ".probe"
        try:
            probe.write_bytes(b"x")
        except OSError:
            probe.unlink(missing_ok=True)
        else:
            raise AssertionError("the full tmpfs still took a write")

    def free(self) -> None:
        if self.tmpfs:
            self.ballast.unlink(missing_ok=True)
        else:
            (self.sessions / "entries").chmod(0o700)

    def unmount(self) -> None:
        if self.tmpfs:
            subprocess.run(["umount", "-l", str(self.folder)], check=True)


class FullRedis:
    """A redis-server (`url`) that refuses writes once `fill`ed, under `noeviction`."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.client.config_set("maxmemory-policy", "noeviction")
        self.ballast_keys = 0

    def fill(self) -> None:
        """Put 512 KiB of ballast in, over a `maxmemory` of 256 KiB more than Redis held: it
        refuses every write until the ballast goes."""
        used = self.client.info("memory")["used_memory"]
        pipeline = self.client.pipeline(transaction=False)
        for index in range(512):
            pipeline.set(f"ballast:{index}", b"\0" * 1024)
        pipeline.execute()
        self.ballast_keys = 512
        self.client.config_set("maxmemory", used + 256 * 1024)

    def free(self) -> None:
        """The ballast gone and `maxmemory` lifted: with only the ballast gone, the little room
        left under `maxmemory` could fill again with what Redis keeps per connection."""
        keys = [f"ballast:{index}" for index in range(self.ballast_keys)]
        for start in range(0, len(keys), 1000):
            self.client.delete(*keys[start : start + 1000])
        self.ballast_keys = 0
        self.client.config_set("maxmemory", 0)
