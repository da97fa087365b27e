"""Copy the compiled app to running badges over the raw REPL.

The app is compiled with mpy-cross (boot.py and main.py stay source), the
board definition goes in as /board.json, and each badge gets only what
changed:
  - one round trip hashes every app file on the badge (sha256);
  - changed files travel as base64 of zlib-compressed chunks (the badge
    inflates them with its `deflate` module), about their own size on the
    wire where mpremote's repr framing doubles to quadruples binary .mpy data;
  - each file lands as NAME.new, is hashed again on the badge, and all of
    them are renamed into place in one last command, so an unplug mid-deploy
    never leaves half a file importable (a later deploy reuses complete .new
    files);
  - files of an earlier deploy that the build no longer has are removed:
    everything under cloudpin/ (the app's package) and whatever the last
    deploy's manifest (.cloudpin-deploy) lists. User data (owner.json,
    stats, friends) lives outside both and is never touched;
  - finally a soft reset (Ctrl-B, Ctrl-D) starts the new app.
The running app is stopped with Ctrl-C, as mpremote does; the firmware keeps
its watchdog fed from a timer once interrupted.
"""
import argparse
import base64
import contextlib
import hashlib
import json
import os
import sys
import threading
import time
import zlib
from pathlib import Path

from host_tools import FIRMWARE_DIR, REPO, chips, flash, fsimage, image
from host_tools.boards import BoardError, load_board

BAUD = 115200
APP_DIRS = ("cloudpin",)
MANIFEST = ".cloudpin-deploy"
TMP = ".new"
CHUNK = 3072  # raw bytes per chunk: a few KB of source for the badge to hold at once
BATCH = 4096  # base64 characters per command (several small files share one)
WBITS = 10  # a 1 KB inflate window on the badge
# sys.implementation._mpy >> 10, as mpy-cross names the architectures.
MPY_ARCHS = ("bytecode", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
             "xtensa", "xtensawin", "rv32imc", "rv64imc")
MPY_VERSION = 6  # what this mpy-cross writes
CACHE_DIR = REPO / ".cache" / "deploy-mpy"
AGENT = Path(__file__).with_name("deploy_agent.py")
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"


class DeployError(RuntimeError):
    """A badge that could not be deployed; the message says why and what to do."""


class BadgeOutOfMemory(DeployError):
    """The badge could not compile or run a command: its heap is full or too
    fragmented (typically by the app stopped with Ctrl-C)."""


# -- the build -----------------------------------------------------------------

def board_json(board):
    return (json.dumps(board, indent=1, sort_keys=True) + "\n").encode()


def _mpy_cross_id():
    exe = Path(sys.executable).parent / "mpy-cross"
    try:
        st = exe.stat()
    except OSError:
        return "missing"
    return "%d-%d" % (st.st_size, int(st.st_mtime))


_compile_lock = threading.Lock()


def _compile(src_path, rel, arch):
    """fsimage's mpy-cross, cached by content so an unchanged re-deploy
    does not pay one mpy-cross process per module."""
    src = src_path.read_bytes()
    key = hashlib.sha256(b"\0".join([src, rel.encode(), arch.encode(), _mpy_cross_id().encode()])).hexdigest()
    cached = CACHE_DIR / (key + ".mpy")
    if cached.exists():
        return cached.read_bytes()
    data = fsimage.compile_module(src_path, rel, arch)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".%d-%d.tmp" % (os.getpid(), threading.get_ident()))
    tmp.write_bytes(data)
    os.replace(tmp, cached)
    return data


def targets(root=FIRMWARE_DIR):
    """[(source path relative to root, path on the badge)] for the app's
    modules, as fsimage lays them out (boot.py and main.py stay source)."""
    return [(rel, rel if rel in fsimage.SOURCE_ONLY else rel[:-3] + ".mpy") for rel in fsimage.app_files(root)]


def build(board, arch, root=FIRMWARE_DIR):
    """{relative path on the badge: bytes}: what fsimage puts in an image."""
    root = Path(root)
    files = {}
    with _compile_lock:
        for rel, path in targets(root):
            src = root / rel
            files[path] = src.read_bytes() if rel == path else _compile(src, rel, arch)
    files["board.json"] = board_json(board)
    return files


def digest(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def chunks(data, size=CHUNK, deflate=True):
    """[(base64 text, compressed?, raw length)] for one file. With deflate,
    a chunk is compressed if that makes it smaller, each on its own so that
    the badge keeps no state between commands."""
    out = []
    for i in range(0, len(data), size) or [0]:
        raw = data[i:i + size]
        packed = raw
        if deflate:
            z = zlib.compressobj(9, zlib.DEFLATED, WBITS)
            packed = z.compress(raw) + z.flush()
        if len(packed) < len(raw):
            out.append((base64.b64encode(packed).decode(), True, len(raw)))
        else:
            out.append((base64.b64encode(raw).decode(), False, len(raw)))
    return out


# -- what the badge holds vs the build ----------------------------------------------

class Inventory:
    """Parsed answer of the agent's _cp_inv: platform, mpy, inflate support,
    free heap, {path: (size, hash)} for the build's paths present, and
    {stray path: (size, hash) or None}."""

    def __init__(self, platform, mpy, can_inflate, mem_free, have, strays):
        self.platform, self.mpy, self.can_inflate, self.mem_free = platform, mpy, can_inflate, mem_free
        self.have, self.strays = have, strays

    @property
    def arch(self):
        i = self.mpy >> 10
        return MPY_ARCHS[i] if i < len(MPY_ARCHS) else "arch%d" % i

    @classmethod
    def parse(cls, text, want):
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if not lines or not lines[0].startswith("cp1 "):
            raise DeployError("unexpected answer from the badge: %r" % text[:200])
        _, platform, mpy, z, mem = lines[0].split()
        body = lines[1:]
        if len(body) < len(want):
            raise DeployError("the badge's file list was cut short")
        have = {}
        for path, line in zip(want, body):
            if line != "-":
                size, h = line.split(" ", 1)
                have[path] = (int(size), h)
        strays = {}
        for line in body[len(want):]:
            if not line.startswith("+"):
                raise DeployError("unexpected line from the badge: %r" % line)
            parts = line[1:].rsplit(" ", 2)
            if len(parts) == 3 and parts[1].isdigit():
                strays[parts[0]] = (int(parts[1]), parts[2])
            else:
                strays[line[1:]] = None
        return cls(platform, int(mpy), z == "1", int(mem), have, strays)


class Plan:
    """What a deploy does to one badge."""

    def __init__(self, write, reuse, unchanged, delete, rmdirs):
        self.write = write  # paths to upload
        self.reuse = reuse  # paths whose complete .new file is already on the badge
        self.unchanged = unchanged
        self.delete = delete  # stale app files and temp files
        self.rmdirs = rmdirs  # directories that may be left empty, deepest first

    @property
    def changes(self):
        return bool(self.write or self.reuse or self.delete)


def _parents(path):
    parts = path.split("/")[:-1]
    return {"/".join(parts[:i]) for i in range(1, len(parts) + 1)}


def make_plan(files, inv, force=False):
    """Pure: compare the build ({path: bytes}) with an Inventory."""
    write, reuse, unchanged = [], [], []
    for path in sorted(files):
        data = files[path]
        want = (len(data), digest(data))
        if not force and inv.have.get(path) == want:
            unchanged.append(path)
        elif not force and inv.strays.get(path + TMP) == want:
            reuse.append(path)
        else:
            write.append(path)
    reused = {p + TMP for p in reuse}
    # Temp files are rewritten or renamed; anything else the build lacks goes.
    delete = sorted(p for p in inv.strays if p not in reused and p[:-len(TMP)] not in write)
    keep_dirs = set().union(*(_parents(p) for p in files)) if files else set()
    gone_dirs = set().union(*(_parents(p) for p in delete)) if delete else set()
    rmdirs = sorted(gone_dirs - keep_dirs, key=lambda d: (-d.count("/"), d))
    return Plan(write, reuse, unchanged, delete, rmdirs)


def manifest_text(files, version):
    return "# cloudpin app %s: files of the last deploy, removed once a build drops them\n%s\n" % (
        version, "\n".join(sorted(files)))


# -- one badge -----------------------------------------------------------------------

WRITER = "# ---- writer"


def agent_source(part=None):
    """The badge-side helpers without comments, blank lines or deep indents
    (every byte costs 87 us at 115200 baud): part "inventory" (what an
    unchanged deploy needs), "writer", or None for all."""
    text = AGENT.read_text()
    cut = text.index(WRITER)
    text = {"inventory": text[:cut], "writer": text[cut:]}.get(part, text)
    out = []
    for line in text.splitlines():
        body = line.lstrip(" ")
        if not body or body.startswith("#"):
            continue
        indent = len(line) - len(body)
        out.append(" " * (indent // 4) + body)
    return "\n".join(out) + "\n"


class Badge:
    """A running badge on a serial port, in the raw REPL, through mpremote's
    SerialTransport. Raises DeployError with a message for the operator."""

    def __init__(self, port, baud=BAUD, wake_timeout=6.0):
        self.port = port
        self.baud = baud
        self.wake_timeout = wake_timeout
        self.t = None

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()

    def connect(self):
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        if not os.path.exists(self.port):
            raise DeployError("%s: no such port (unplugged? list ports with: python -m serial.tools.list_ports)"
                              % self.port)
        if not os.access(self.port, os.R_OK | os.W_OK):
            raise DeployError("%s: permission denied (add yourself to the dialout group)" % self.port)
        try:
            # A bounded read timeout: mpremote reads ptys one blocking byte at a time.
            self.t = SerialTransport(self.port, baudrate=self.baud, timeout=1)
        except TransportError:
            raise DeployError("%s: port busy: another program has it open (mpremote, screen, "
                              "cloudpin logs?)" % self.port) from None
        try:
            seen, prompt = self._wake()
            if not prompt and not seen:
                raise DeployError("%s: the badge is not answering (powered? the right port? is the baud rate %d "
                                  "right?)" % (self.port, self.baud))
            if not prompt:
                raise DeployError("%s: not a MicroPython REPL (is MicroPython flashed? `cloudpin flash`); it said %r"
                                  % (self.port, seen[-80:]))
            try:
                self.t.enter_raw_repl(soft_reset=False, timeout_overall=4)
            except TransportError:
                raise DeployError("%s: the badge did not enter the raw REPL; it said %r" % (self.port, seen[-80:])) \
                    from None
        except BaseException:
            self.close()
            raise

    def _read_for(self, endings, seconds):
        """Bytes until one of `endings` arrives or `seconds` pass, even on a
        port that never stops talking (mpremote's read_until checks its
        overall timeout only while the line is quiet)."""
        s = self.t.serial
        data = b""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            chunk = s.read(s.in_waiting or 1)
            if chunk:
                data += chunk
                if any(e in data[-len(e) - len(chunk):] for e in endings):
                    break
        return data

    def _wake(self):
        """Ctrl-C until a prompt shows (a badge just plugged in may still be
        booting and miss the first one); Ctrl-A in case it sits in the raw
        REPL already, where Ctrl-C prints nothing. Returns (everything
        received, whether a MicroPython prompt showed)."""
        s = self.t.serial
        timeout, s.timeout = s.timeout, 0.05
        seen = b""
        try:
            deadline = time.monotonic() + self.wake_timeout
            while time.monotonic() < deadline:
                s.write(b"\r\x03\x03")
                seen += self._read_for((b">>> ", RAW_BANNER), 0.5)
                if b">>> " in seen[-400:] or RAW_BANNER in seen[-400:]:
                    return seen, True
                s.write(b"\r\x01")
                seen += self._read_for((RAW_BANNER,), 0.3)
                if RAW_BANNER in seen[-400:]:
                    return seen, True
            return seen, False
        finally:
            s.timeout = timeout

    def close(self):
        t, self.t = self.t, None
        if t is None:
            return
        try:
            t.close()
        except Exception:  # the port may be gone already; nothing to save
            with contextlib.suppress(Exception):
                t.serial.close()

    def detach(self):
        """Hand over the open pyserial port (for a reader that goes on
        listening); the Badge is closed without closing it."""
        t, self.t = self.t, None
        return t.serial

    def run(self, code, timeout=20):
        """Execute code in the raw REPL; its printed output."""
        from mpremote.transport import TransportError

        try:
            out, err = self.t.exec_raw(code, timeout=timeout)
        except (TransportError, OSError) as e:
            gone = not os.path.exists(self.port)
            raise DeployError("%s: %s" % (self.port, "badge unplugged" if gone else "badge stopped answering: %s" % e)) \
                from None
        if err:
            lines = [ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
            last = lines[-1] if lines else "an error"
            cls = BadgeOutOfMemory if last.startswith("MemoryError") else DeployError
            raise cls("%s: the badge reported %s" % (self.port, last))
        return out.decode("utf-8", "replace")

    def soft_reset_raw(self):
        """Soft-reset in the raw REPL: boot.py runs, main.py does not, so the
        app's objects are gone and the heap is whole again."""
        from mpremote.transport import TransportError

        try:
            self.t.enter_raw_repl(soft_reset=True, timeout_overall=10)
        except (TransportError, OSError) as e:
            raise DeployError("%s: the badge did not come back from a soft reset: %s" % (self.port, e)) from None

    def restart(self):
        """Leave the raw REPL and soft-reset at the friendly prompt, where a
        board runs boot.py and main.py again. True once 'soft reboot' shows."""
        try:
            self.t.serial.write(b"\r\x02")
            self.t.read_until(1, b">>> ", timeout=1, timeout_overall=3)
            self.t.serial.write(b"\x04")
            data = self.t.read_until(1, b"soft reboot\r\n", timeout=2, timeout_overall=5)
        except OSError:  # unplugged right at the end: the files are in place, it restarts on power-up
            return False
        return data.endswith(b"soft reboot\r\n")


def inventory(badge, want):
    """Send the agent and hash every app file on the badge in one command."""
    code = agent_source("inventory") + "_cp_inv(%r, %r, %r, %r)\n" % (want, list(APP_DIRS), MANIFEST, TMP)
    return Inventory.parse(badge.run(code), want)


def choose_arch(board, inv, arch=None):
    """The mpy-cross target: --arch, else the board's CPU; a virtual badge
    (the unix port) gets its own CPU. A real badge whose CPU is not the
    board's is refused: the --board is probably wrong."""
    if inv.mpy & 0xFF != MPY_VERSION:
        raise DeployError("the badge's MicroPython loads .mpy version %d, this mpy-cross writes version %d: "
                          "flash a current MicroPython (cloudpin flash)" % (inv.mpy & 0xFF, MPY_VERSION))
    if arch:
        return arch
    want = chips.mpy_arch(board["chip"])
    if inv.arch == want:
        return want
    if inv.platform in ("linux", "darwin"):
        return inv.arch  # a virtual badge: the host's MicroPython
    raise DeployError("the badge's CPU is %s but board %s (%s) needs %s: wrong --board? (--arch %s forces it)"
                      % (inv.arch, board["name"], board["chip"], want, inv.arch))


def upload_commands(files, paths, can_inflate, batch=BATCH):
    """[(command text, [path whose close result it prints], raw bytes covered)]"""
    cmds, cur, closes, size = [], [], [], 0

    def flush():
        nonlocal cur, closes, size
        if cur:
            cmds.append(("\n".join(cur) + "\n", closes, size))
        cur, closes, size = [], [], 0

    for path in paths:
        data = files[path]
        cur.append("_cp_o(%r)" % (path + TMP))
        for text, z, n in chunks(data, deflate=can_inflate):
            if sum(len(c) for c in cur) + len(text) > batch:
                flush()
            cur.append("_cp_w(%r,%d)" % (text, z))
            size += n
        cur.append("_cp_c(%r)" % (path + TMP))
        closes.append(path)
    flush()
    return cmds


def deploy_badge(badge, board, *, progress=None, **kw):
    """Deploy to a connected Badge. progress(event, **info) hears "plan"
    (total bytes, files), "bytes" (n), "file" (path), and "retry" (reason)
    when the badge ran out of memory and the deploy starts over once on a
    soft-reset badge: every step is idempotent (files land as temps, an
    inventory decides what is left to send). Returns a result dict."""
    try:
        return _deploy_once(badge, board, progress=progress, **kw)
    except BadgeOutOfMemory as e:
        if progress:
            progress("retry", reason=str(e))
        badge.soft_reset_raw()
        result = _deploy_once(badge, board, progress=progress, **kw)
        result["retried"] = str(e)
        return result


def _deploy_once(badge, board, *, arch=None, force=False, dry_run=False, root=FIRMWARE_DIR, progress=None,
                 restart=True):
    t0 = time.monotonic()
    note = progress or (lambda *a, **k: None)
    # The badge's paths follow from the sources alone; the arch from the badge.
    want = [p for _, p in targets(root)] + ["board.json", MANIFEST]
    try:
        inv = inventory(badge, want)
    except DeployError:
        # A badge that reset while we connected (plugged in, still booting,
        # a watchdog) garbles the first exchange; nothing is written yet.
        if not os.path.exists(badge.port):
            raise
        badge.close()
        time.sleep(0.5)
        badge.connect()
        inv = inventory(badge, want)
    arch = choose_arch(board, inv, arch)
    files = build(board, arch, root)
    plan = make_plan(files, inv, force)
    manifest = manifest_text(files, image.firmware_version(root)).encode()
    total = sum(len(files[p]) for p in plan.write)
    note("plan", total=total, files=len(plan.write), plan=plan)
    result = {"port": badge.port, "arch": arch, "platform": inv.platform, "written": list(plan.write),
              "reused": list(plan.reuse), "unchanged": list(plan.unchanged), "deleted": list(plan.delete),
              "bytes": total, "restarted": False, "dry_run": dry_run}
    if dry_run:
        if restart:
            result["restarted"] = badge.restart()
        result["seconds"] = time.monotonic() - t0
        return result
    writer = agent_source("writer")
    for cmd, closes, size in upload_commands(files, plan.write, inv.can_inflate):
        out = [ln for ln in badge.run(writer + cmd).splitlines() if ln.strip()]
        writer = ""
        if len(out) != len(closes):
            raise DeployError("%s: unexpected answer while writing: %r" % (badge.port, out[-3:]))
        for path, line in zip(closes, out):
            want = "%d %s" % (len(files[path]), digest(files[path]))
            if line != want:
                raise DeployError("%s: %s arrived damaged (badge has %s, sent %s): deploy again"
                                  % (badge.port, path, line, want))
            note("file", path=path)
        note("bytes", n=size)
    if plan.changes or inv.have.get(MANIFEST) != (len(manifest), digest(manifest)):
        moves = [(p + TMP, p) for p in plan.write + plan.reuse]
        # Renames in one command: the old and the new app never mix for long.
        badge.run(writer + "_cp_commit(%r, %r, %r, %r, %r)\n" % (
            moves, plan.delete, plan.rmdirs, MANIFEST, manifest.decode()))
    if restart:
        result["restarted"] = badge.restart()
    result["seconds"] = time.monotonic() - t0
    return result


def deploy_port(port, board, *, baud=BAUD, **kw):
    """Connect to `port`, deploy, restart the app; a result dict (with
    "error" instead when it failed)."""
    try:
        with Badge(port, baud) as badge:
            return deploy_badge(badge, board, **kw)
    except (DeployError, fsimage.ImageError, chips.FirmwareError) as e:
        return {"port": port, "error": str(e)}


def deploy_ports(ports, board, *, progress=None, **kw):
    """Deploy to several ports at once, one thread each (the work is serial
    I/O). progress(port, event, **info). Returns {port: result}."""
    results = {}

    def one(port):
        note = (lambda ev, **info: progress(port, ev, **info)) if progress else None
        try:
            results[port] = deploy_port(port, board, progress=note, **kw)
        except Exception as e:  # one port's crash is that port's failure only
            results[port] = {"port": port, "error": "%s: %s: %s" % (port, type(e).__name__, e)}
        if progress:
            progress(port, "done", result=results[port])

    threads = [threading.Thread(target=one, args=(p,), name="deploy-" + os.path.basename(p)) for p in ports]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {p: results[p] for p in ports}


# -- command line ------------------------------------------------------------------------

def describe(result):
    """One summary line for a port's result."""
    port = result["port"]
    if "error" in result:
        return "%s: FAILED: %s" % (port, result["error"])
    verb = "would write" if result["dry_run"] else "wrote"
    parts = ["%s %d file%s (%d bytes)" % (verb, len(result["written"]), "" if len(result["written"]) == 1 else "s",
                                          result["bytes"])]
    if result["reused"]:
        parts.append("finished %d from an interrupted deploy" % len(result["reused"]))
    if result.get("retried"):
        parts.append("soft-reset once: the badge was out of memory")
    parts.append("%d unchanged" % len(result["unchanged"]))
    if result["deleted"]:
        parts.append("%s %d stale (%s)" % ("would delete" if result["dry_run"] else "deleted",
                                           len(result["deleted"]), ", ".join(result["deleted"])))
    line = "%s: %s; %s, %.1f s" % (port, ", ".join(parts), result["arch"], result["seconds"])
    if result["dry_run"]:
        return line + (": " + ", ".join(result["written"]) if result["written"] else "")
    return line + ("; app restarted" if result["restarted"] else "; restart it with the reset button")


def add_arguments(p):
    p.add_argument("--board", required=True, help="board name (boards/NAME.json) or path to a board JSON")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", action="append", help="serial port of a running badge (repeatable)")
    where.add_argument("--all", action="store_true", help="every USB serial adapter that looks like an ESP32 board")
    p.add_argument("--arch", help="mpy-cross architecture instead of the board's CPU (a virtual badge gets its own "
                                  "automatically); 'bytecode' for portable .mpy")
    p.add_argument("--force", action="store_true", help="write every file even if the badge has it already")
    p.add_argument("--dry-run", action="store_true",
                   help="compare and say what would change, write nothing (the app is interrupted and restarted)")
    p.add_argument("--baud", type=int, default=BAUD, help="serial speed (default %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--app", default=str(FIRMWARE_DIR), help=argparse.SUPPRESS)


class _Bars:
    """A rich progress bar per port on stderr (bytes of changed files)."""

    def __init__(self, ports, enabled):
        self.progress = None
        self.tasks = {}
        self.lock = threading.Lock()
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("{task.fields[port]:<14}"), BarColumn(), DownloadColumn(),
                                 TextColumn("{task.fields[what]}"), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=False)
        for port in ports:
            self.tasks[port] = self.progress.add_task("", total=None, port=os.path.basename(port), what="connecting")

    def __enter__(self):
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress:
            self.progress.stop()

    def __call__(self, port, event, **info):
        if not self.progress:
            return
        task = self.tasks[port]
        with self.lock:
            if event == "plan":
                self.progress.update(task, total=info["total"] or 1, completed=0 if info["total"] else 1,
                                     what="%d file%s to write" % (info["files"], "" if info["files"] == 1 else "s"))
            elif event == "file":
                self.progress.update(task, what=info["path"])
            elif event == "bytes":
                self.progress.advance(task, info["n"])
            elif event == "retry":
                self.progress.update(task, what="out of memory: soft reset, starting over")
            elif event == "done":
                r = info["result"]
                self.progress.update(task, what="failed" if "error" in r else "done")


def run(args):
    try:
        board = load_board(args.board)
    except BoardError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    ports = list(dict.fromkeys(args.port)) if args.port else flash.discover_ports()
    if not ports:
        print("error: no USB serial port found; known adapters: %s" % ", ".join(
            "%s (%04X:%04X)" % (n, v, p) for (v, p), n in flash.USB_SERIAL.items()), file=sys.stderr)
        return 1
    try:
        targets(args.app)
    except fsimage.ImageError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    show = not args.no_progress and sys.stderr.isatty()
    with _Bars(ports, show) as bars:
        results = deploy_ports(ports, board, progress=bars, arch=args.arch, force=args.force,
                               dry_run=args.dry_run, root=args.app, baud=args.baud)
    for port in ports:
        print(describe(results[port]))
    return 0 if all("error" not in r for r in results.values()) else 1
