"""A throwaway local PostgreSQL server for tests and benchmarks: initdb into a
temp folder, listen only on a unix socket inside it, stop and delete at the
end. Uses Debian's `postgresql` package (initdb/pg_ctl on PATH or under
/usr/lib/postgresql/*/bin). PostgreSQL refuses to run as root, so as root the
server runs as the `postgres` user (runuser) in a folder handed to it.

No fallback and no skipping: if the server cannot start, PgServerError says
why, with the tail of the server log.
"""
import atexit
import glob
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

_PORT = 5432  # only names the socket file; nothing listens on TCP
_USER = "desk"


class PgServerError(RuntimeError):
    pass


def find_bindir():
    """The folder holding initdb and pg_ctl."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if candidates:
        return Path(candidates[-1]).parent
    raise PgServerError("PostgreSQL is not installed: no initdb on PATH or under /usr/lib/postgresql/*/bin "
                        "(Debian: apt-get install postgresql)")


class PgServer:
    def __init__(self):
        self.bindir = find_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="cloudpin-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_user = None
        self._started = False

    def _run(self, args, timeout=120):
        cmd = [str(self.bindir / args[0])] + [str(a) for a in args[1:]]
        if self._as_user:
            cmd = ["runuser", "-u", self._as_user, "--"] + cmd
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=str(self.root))
        if proc.returncode != 0:
            tail = self.log.read_text(errors="replace")[-1500:] if self.log.exists() else ""
            raise PgServerError("%s failed (exit %d):\n%s%s\n%s" % (
                args[0], proc.returncode, proc.stdout[-1500:], proc.stderr[-1500:], tail))
        return proc

    def start(self):
        if os.geteuid() == 0:
            # initdb and postgres refuse root: hand the folder to `postgres`.
            import pwd

            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise PgServerError("running as root and there is no `postgres` user to run the server as") from None
            if not shutil.which("runuser"):
                raise PgServerError("running as root and `runuser` is missing: cannot drop to the postgres user")
            self._as_user = "postgres"
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self._run(["initdb", "-D", self.data, "-U", _USER, "--auth=trust", "-E", "UTF8", "--locale=C", "-N"])
        opts = "-k %s -p %d -c listen_addresses='' -c fsync=off -c max_connections=50" % (self.root, _PORT)
        self._run(["pg_ctl", "-D", self.data, "-l", self.log, "-o", opts, "-w", "-t", "60", "start"])
        self._started = True
        return self

    def url(self, dbname="postgres"):
        return "postgresql://%s@/%s?host=%s&port=%d" % (_USER, dbname, self.root, _PORT)

    def fresh_database(self):
        """A new empty database on this server; returns its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE %s" % name)
        return self.url(name)

    def empty_database(self):
        """The URL of this server's scratch database, emptied: cheaper than a
        new database for each of many small tests."""
        import psycopg

        if not getattr(self, "_scratch", None):
            self._scratch = self.fresh_database()
        with psycopg.connect(self._scratch, autocommit=True) as conn:
            if conn.execute("SELECT to_regclass('assignments')").fetchone()[0]:
                # Emptying is much faster than dropping and creating again.
                conn.execute("TRUNCATE assignments, badges, accreditations RESTART IDENTITY")
        return self._scratch

    def stop(self):
        if self._started:
            self._started = False
            try:
                self._run(["pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"], timeout=60)
            except (PgServerError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.root, ignore_errors=True)


_shared = None
_shared_lock = threading.Lock()


def shared():
    """One server per process, started on first use and stopped at exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            server = PgServer()
            try:
                server.start()
            except BaseException:
                server.stop()
                raise
            atexit.register(server.stop)
            _shared = server
        return _shared
