"""A world dropped while a pin is in light sleep (cpsim.simloop: the pin's
callback parked in a greenlet) ends that pin's task as cancelled, quietly,
even when the pin's flash folder is already gone (a test's tmp folder):
binding the pin again on the way out raised FileNotFoundError past the
cancel, the firmware's supervisor caught it and tried to back off with no
loop left, and asyncio printed "Task exception was never retrieved" at a
later test's teardown (after tests/fw/test_phone_sleep.py)."""
import asyncio
import gc
import shutil


def test_a_pin_asleep_when_its_world_is_dropped_ends_quietly(tmp_path):
    import machine
    from cpsim import world as world_mod
    from cpsim.world import World

    flash = tmp_path / "flash"
    flash.mkdir()
    caught, reports = [], []
    w = World()
    d = w.device("a")
    d.flash_dir = str(flash)

    async def firmware():
        try:
            while True:
                machine.lightsleep(1000)
                await asyncio.sleep(0)
        except Exception as e:  # as cloudpin.supervisor does: log it, back off, go on
            caught.append(e)
            await asyncio.sleep(0.01)

    w.start(d, firmware())
    w.run_for(2500)
    w._runner.loop.set_exception_handler(lambda loop, ctx: reports.append(ctx.get("message")))
    shutil.rmtree(flash)
    world_mod.reset()  # the world dropped with the pin asleep
    gc.collect()
    assert caught == [] and reports == [], (caught, reports)
