"""Ctrl-C for a MicroPython unix-port VM as a board's UART handles it:
KeyboardInterrupt in running code, without ever killing or breaking the VM.

It exists because the VM cannot be trusted with a plain SIGINT. Its SIGINT
handler is installed only while code executes (mp_hal_set_interrupt_char), so
a SIGINT at any other moment kills it; and the handler raises
KeyboardInterrupt at once, long-jumping out of whatever C code runs, so a
SIGINT that lands in an allocation leaves the heap locked or broken
("MemoryError: heap is locked", a deadlock, a segfault later), and one that
lands in an import's file lookup is lost (mp_vfs_import_stat takes any
exception for "no such file"). A board raises it between bytecodes.

So the VM is stopped (SIGSTOP) while this module looks at it through /proc
(status, syscall, maps, mem) and the symbols of its binary, and signalled only
at a safe point: in the bytecode loop or in a system call other than memory
management, locks and signal masks; after _ANY_C_AFTER_S also in a C function
of the VM other than its allocator, locks, maps and qstrs, with none of those
under way above it; never while an import looks for a file (until
_STACK_TRUST_S: a stale word on the stack may look like one). As on a board,
a VM that stays in C code is interrupted once it leaves it. A VM that runs no
code gets the Ctrl-C as a byte of REPL input instead; a binary without symbols
is signalled whenever it catches SIGINT.
"""
import bisect
import os
import signal
import struct
import time

_INTERPRETER = "mp_execute_bytecode"
_SWALLOWS = "mp_vfs_import_stat"
_ALLOCATOR = ("gc_", "m_malloc", "m_realloc", "m_free", "mp_map_", "qstr_", "mp_thread_")
_UNSAFE_SYSCALLS = {
    # mmap mprotect munmap brk rt_sigaction rt_sigprocmask rt_sigreturn mremap madvise futex
    "x86_64": {9, 10, 11, 12, 13, 14, 15, 25, 28, 202},
    "aarch64": {222, 226, 215, 214, 134, 135, 139, 216, 233, 98},
}.get(os.uname().machine, set())
_STACK_SCAN = 4096  # bytes of stack searched for an import's lookup (found ~1.2 KB deep)
_ALLOC_SCAN = 1024  # and for an allocation under way, in C code
_ANY_C_AFTER_S = 0.02
_STACK_TRUST_S = 2.0
# When the next Ctrl-C may go out as SIGINT (VmInterrupt._settled), if
# the VM did not block or leave the code: after this much CPU time of the VM.
_KBD_SETTLE_CPU_NS = 10000000
_SIGINT_BIT = 1 << (signal.SIGINT - 1)


def _proc(pid, name):
    try:
        with open("/proc/%d/%s" % (pid, name)) as f:
            return f.read()
    except OSError:
        return ""


def _task_state(pid, task):
    """Scheduler state letter (R, S, D, T, Z...) of one thread of a process."""
    text = _proc(pid, "task/%s/stat" % task)
    i = text.rfind(")")
    return text[i + 2:i + 3] if i >= 0 else "X"


def _frozen(pid, timeout=1.0):
    """Wait until every thread of a process sent SIGSTOP has stopped (or it
    is gone); False if that takes longer than timeout."""
    end = time.monotonic() + timeout
    while True:
        try:
            tasks = os.listdir("/proc/%d/task" % pid)
        except OSError:
            return True
        if all(_task_state(pid, t) in "TtZX" for t in tasks):
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.0001)


def _catches_sigint(pid):
    for line in _proc(pid, "status").splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & _SIGINT_BIT)
    return False


def _elf_functions(path):
    """{name: (address, size)} of the functions in an ELF64 little-endian
    file's symbol tables, and whether addresses are relative to where it is
    loaded; ({}, False) for anything else."""
    found = {}
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF" or head[4:6] != b"\x02\x01":
                return found, False
            shoff, = struct.unpack_from("<Q", head, 40)
            shentsize, shnum = struct.unpack_from("<HH", head, 58)
            f.seek(shoff)
            table = f.read(shentsize * shnum)
            sections = [struct.unpack_from("<IIQQQQIIQQ", table, i * shentsize) for i in range(shnum)]
            for sec in sections:
                if sec[1] not in (2, 11):  # SHT_SYMTAB, SHT_DYNSYM
                    continue
                f.seek(sec[4])
                syms = f.read(sec[5])
                strtab = sections[sec[6]]
                f.seek(strtab[4])
                names = f.read(strtab[5])
                for i in range(0, len(syms) - 23, 24):
                    name, info = struct.unpack_from("<IB", syms, i)
                    value, size = struct.unpack_from("<QQ", syms, i + 8)
                    if info & 0xF == 2 and value and size:  # STT_FUNC
                        end = names.find(b"\0", name)
                        found[names[name:end].decode("latin-1")] = (value, size)
            return found, struct.unpack_from("<H", head, 16)[0] == 3  # ET_DYN
    except (OSError, struct.error, IndexError):
        return {}, False


_elf_cache = {}


def _vm_layout(pid):
    """Where a running VM's code is: "funcs", its functions as sorted
    (start, end, unsafe) address ranges (unsafe: allocator and the like, see
    above), "bytecode" and "import" (one range each), and "stack_end", the
    top of its stack; {} if its code has no symbols."""
    layout = {}
    stack_end = None
    for line in _proc(pid, "maps").splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6:
            continue
        if parts[5] == "[stack]":
            stack_end = int(parts[0].split("-")[1], 16)
        elif not layout and parts[2].strip("0") == "" and "micropython" in os.path.basename(parts[5]):
            try:
                key = (parts[5], os.stat(parts[5]).st_mtime_ns)
            except OSError:
                continue
            if key not in _elf_cache:
                _elf_cache[key] = _elf_functions(parts[5])
            funcs, relative = _elf_cache[key]
            if _INTERPRETER in funcs and _SWALLOWS in funcs:
                shift = int(parts[0].split("-")[0], 16) if relative else 0
                ranges = sorted((v + shift, v + shift + n, name.startswith(_ALLOCATOR))
                                for name, (v, n) in funcs.items())
                layout = {"funcs": ranges, "starts": [r[0] for r in ranges],
                          "bytecode": (funcs[_INTERPRETER][0] + shift, sum(funcs[_INTERPRETER]) + shift),
                          "import": (funcs[_SWALLOWS][0] + shift, sum(funcs[_SWALLOWS]) + shift)}
    if layout and stack_end:
        layout["stack_end"] = stack_end
    return layout


def _function_at(layout, addr):
    i = bisect.bisect_right(layout["starts"], addr) - 1
    if i >= 0 and addr < layout["funcs"][i][1]:
        return layout["funcs"][i]
    return None


def _stack(pid, sp, end, size):
    """The words on a stopped process's stack from sp up; None if unreadable."""
    try:
        fd = os.open("/proc/%d/mem" % pid, os.O_RDONLY)
        try:
            data = os.pread(fd, min(size, end - sp), sp)
        finally:
            os.close(fd)
    except (OSError, ValueError, OverflowError):
        return None
    return memoryview(data[:len(data) & ~7]).cast("Q")


def _at_safe_point(pid, layout, waited):
    """May a stopped VM that a Ctrl-C has waited for `waited` seconds get
    KeyboardInterrupt now (see the module docstring)? As far as it cannot be told, yes."""
    fields = _proc(pid, "syscall").split()
    if not fields:
        return True
    if fields[0] == "running":
        return False
    nr, sp, pc = int(fields[0]), int(fields[-2], 16), int(fields[-1], 16)
    if nr in _UNSAFE_SYSCALLS:
        return False
    if not layout or "stack_end" not in layout:
        return True
    in_c = nr < 0 and not layout["bytecode"][0] <= pc < layout["bytecode"][1]
    if in_c:
        func = _function_at(layout, pc)
        if waited < _ANY_C_AFTER_S or func is None or func[2]:
            return False
    words = _stack(pid, sp, layout["stack_end"], _STACK_SCAN)
    if words is None:
        return True
    if in_c and any(f is not None and f[2] for f in (_function_at(layout, w) for w in words[:_ALLOC_SCAN // 8])):
        return False
    lo, hi = layout["import"]
    return waited >= _STACK_TRUST_S or not any(lo <= w < hi for w in words)


def _switches(pid):
    """Times the process has blocked (its voluntary context switches)."""
    for line in _proc(pid, "status").splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    return 0


def _cpu_ns(pid):
    """CPU time the process's main thread has run, in ns."""
    fields = _proc(pid, "schedstat").split()
    if fields and fields[0] != "0":
        return int(fields[0])
    text = _proc(pid, "stat")
    fields = text[text.rfind(")") + 2:].split()
    if len(fields) < 13:
        return 0
    return (int(fields[11]) + int(fields[12])) * 1000000000 // os.sysconf("SC_CLK_TCK")


SENT = "sent"  # SIGINT sent (or the VM is gone): this Ctrl-C is done
AS_INPUT = "input"  # no code runs: the Ctrl-C is a byte for the REPL


class VmInterrupt:
    """Ctrl-Cs for one VM process, one at a time, in order."""

    def __init__(self, pid):
        self.pid = pid
        self._signalled = None  # (VM CPU ns, voluntary switches) at the last SIGINT, until taken
        self._since = None  # when the Ctrl-C now waiting for a safe point first tried
        self._layout = None  # where the VM's code and stack are (_vm_layout)

    def deliver(self):
        """Try to deliver one Ctrl-C: SENT, AS_INPUT (the caller passes the
        byte to the VM), or the seconds after which to try again; later bytes
        wait meanwhile, as in a FIFO."""
        if self._signalled is not None and not self._settled():
            return 0.002
        pid = self.pid
        try:
            os.kill(pid, signal.SIGSTOP)
        except ProcessLookupError:
            return SENT
        verdict = AS_INPUT
        try:
            if not _frozen(pid):
                verdict = None
            elif _catches_sigint(pid):
                verdict = None
                now = time.monotonic()
                waited = now - (self._since or now)
                if self._layout is None:
                    self._layout = _vm_layout(pid)
                if _at_safe_point(pid, self._layout, waited):
                    os.kill(pid, signal.SIGINT)
                    self._signalled = (_cpu_ns(pid), _switches(pid))
                    verdict = SENT
        finally:
            os.kill(pid, signal.SIGCONT)
        if verdict is None:
            self._since = self._since or time.monotonic()
            return 0.001
        self._since = None
        return verdict

    def taken(self):
        """The VM has dealt with the last SIGINT (it said so): the next
        Ctrl-C need not wait for it to settle."""
        self._signalled = None

    def _settled(self):
        """Has the VM dealt with the last KeyboardInterrupt: left the code
        that got it (no handler), blocked, or ran on for _KBD_SETTLE_CPU_NS?
        Until then the next Ctrl-C waits. Ports that raise KeyboardInterrupt
        at the next bytecode rather than at once exit on a second SIGINT
        before that; and the code that got one reacts first, as on a board
        where the next Ctrl-C comes a character time later."""
        pid = self.pid
        cpu, switches = self._signalled
        if (not _catches_sigint(pid) or _switches(pid) > switches
                or _cpu_ns(pid) - cpu >= _KBD_SETTLE_CPU_NS):
            self._signalled = None
            return True
        return False
