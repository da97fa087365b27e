# Runs one firmware test module inside the MicroPython VM and reports each
# test_* function between markers that tests/conftest.py parses.
# Usage: micropython mp_runner.py MODULE [WORKDIR]
import sys
import os
import gc


def main():
    # Firmware's `import time` reads the simulated clock of the bound world
    # (cpsim.timebase): installed before the test module imports firmware.
    from cpsim import simtime

    simtime.install()
    # The VM's qstr pools padded first, with room for the emulator's names
    # (about 1,400, as a test loads its modules) and the firmware's: those
    # then make no pool in the VM, and the chips' pools for the firmware's
    # names are held aside from the share instead (tests/conftest.py
    # qstr_charge; docs/heap.md "The qstr pools"). Collected often
    # meanwhile, so that the names' chunks lie packed low, not strewn over
    # the share between the garbage of a heap never collected.
    from cpsim import resident

    gc.threshold(4096)
    resident.pad_qstrs(2 * resident.QSTR_ROOM)
    gc.threshold(-1)  # the port's default
    gc.collect()
    charge = os.getenv("CLOUDPIN_QSTR_HOLD")
    held = bytearray(int(charge)) if charge else None  # noqa: F841 - held for the whole run
    modname = sys.argv[1]
    workdir = sys.argv[2] if len(sys.argv) > 2 else None
    mod = __import__(modname)
    names = [n for n in dir(mod) if n.startswith("test_")]
    want = sys.argv[3].split(",") if len(sys.argv) > 3 else None
    for name in names:
        if want is not None and name not in want:
            continue
        if workdir:
            os.chdir(workdir)
        try:
            import cpsim.world as w

            w.reset()
        except ImportError:
            pass
        gc.collect()
        print("@@BEGIN " + name)
        ok = True
        try:
            getattr(mod, name)()
        except Exception as e:  # report every failure, keep running the rest
            ok = False
            sys.print_exception(e, sys.stdout)
        print("@@END " + name + (" PASS" if ok else " FAIL"))


main()
