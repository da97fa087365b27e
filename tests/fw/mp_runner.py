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
