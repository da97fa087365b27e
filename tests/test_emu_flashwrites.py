"""A pin's file writes counted in its accounting (cpsim.flashwrites): what
the power model prices as flash writes (docs/power.md)."""
import os

from host_tools import firmware_on_path

firmware_on_path(compat=True)
from cpsim import world as world_mod  # noqa: E402


def test_a_pins_writes_count_while_its_world_runs(tmp_path):
    home = os.getcwd()
    w = world_mod.World()
    dev = w.device("p")
    dev.flash_dir = str(tmp_path)
    try:
        w.use(dev)
        with open("provisioned.json", "w") as f:  # the host writing the pin's files: not the firmware's
            f.write("x" * 10)

        async def firmware():
            with open("a.log", "ab") as f:  # one session, two writes
                f.write(b"12345")
                f.write(b"678")
            with open("a.log", "rb") as f:  # reading writes nothing
                assert f.read() == b"12345678"
            open("b.json", "w").close()  # opened, nothing written: no session
            f = open("c.bin", "w+b")
            f.write(b"\x01")
            f.seek(0)
            assert f.read() == b"\x01"
            f.close()

        w.start(dev, firmware())
        w.run_for(10)
        assert dev.acct.snapshot()["counts"] == {"flash.bytes": 9, "flash.writes": 2}
        assert (tmp_path / "a.log").read_bytes() == b"12345678"
    finally:
        w.close()
        world_mod.leave_flash(home)
        world_mod.reset()
