# The application: builds its services from the Hardware the board layer
# made, and runs them under the supervisor on asyncio.
import asyncio
import os

from micropython import const

from cloudpin import VERSION
from cloudpin import bus as bus_topics
from cloudpin.battery import LowBattery
from cloudpin.bus import Bus
from cloudpin.log import Logger
from cloudpin.motion import MotionService
from cloudpin.status import StatusService
from cloudpin.supervisor import Supervisor

# A lit LED draws about 5 mA, twice the whole pin's budget (docs/power.md):
# the boot colour shows for a moment, a low battery as a short red flash on
# each battery reading (every status line). "Tap again" (the handshake found
# no partner it could be sure of, issue 9) is the wearer's to see: three
# short yellow blinks. (A friend made shows on the M5's card; a flash for
# it would be a task allocated at the tap's heap peak: 640 bytes of the
# M5's thin margin, docs/designs.md.)
_BOOT_LED_MS = 2000
_LOW_FLASH_MS = 100
_AGAIN_BLINK_MS = 150

PACK_PATH = "pack.bin"  # the event pack, compiled (cloudpin pack build), beside board.json


def _no_mark(name):
    pass


# MicroPython collects only when an allocation fails, so between collections
# new objects go wherever the last free run was, among the garbage, and what
# lives ends up strewn over the whole heap: after a while no large block is
# left though plenty is free (docs/heap.md). A collection every few KB keeps
# what lives packed at the bottom. ESTIMATE of the cost: a collection of the
# pin's 100 KB heap takes 1-3 ms at 240 MHz; the app allocates a few KB a
# second at most, in a tap or a phone session, and nothing per sample.
_GC_EVERY = const(4096)


def _compact():
    import gc

    gc.collect()
    if hasattr(gc, "threshold"):  # MicroPython (CPython's gc has none)
        gc.threshold(_GC_EVERY)


def badge_label(hw):
    """The badge id as hex for log lines; "none" before the desk gave it one."""
    if hw.nvs is None:
        return "none"
    from cloudpin import identity
    import binascii

    bid = identity.load(hw.nvs)["badge_id"]
    return binascii.hexlify(bid).decode() if bid is not None else "none"


class App:
    def __init__(self, hw, log, status_every_ms=10000, sleep=True, phone=True, mark=None):
        """sleep: light-sleep when idle and doze the sensor when still
        (cloudpin.power, docs/power.md); False is the always-awake policy.
        phone: the wearer's phone service (cloudpin.phone, docs/phone-api.md)
        when the pin has a radio owner and is provisioned. mark(name), if
        given, is called after each service is made (the heap bench,
        docs/heap.md)."""
        mark = mark or _no_mark
        _compact()
        self.hw = hw
        self.log = log
        self.badge = badge_label(hw)
        # Services talk through the bus (tap -> handshake -> friends -> designs)
        self.bus = Bus(log.child("bus"))
        mark("bus")
        if hw.led is not None:
            self.bus.subscribe(bus_topics.TAP_AGAIN, self._on_again)
        self.radio = self.friends = self.updates = self.meet = self.phone = None
        if hw.ble is not None and hw.nvs is not None and hw.rtc is not None:
            self._social(hw, log, mark)
        if phone and self.radio is not None:
            # Declared now: the radio registers every GATT service at its
            # first start. Its protocol modules load at the first double tap.
            from cloudpin.phone import setup

            self.phone = setup.build(self, log.child("phone"))
            mark("phone")
        pins = [p for p in (hw.accel_int, hw.accel_int2) if p is not None] if hw.accel is not None else []
        self.power = None
        if sleep:
            from cloudpin.power import PowerService

            # an active-low button also wakes it (ext0; active high: none of the boards)
            self.power = PowerService(log.child("power"), self.bus, pins, hw.wdt, ble=hw.ble, button=hw.button if (
                hw.board.get("button") or {}).get("active_low", True) else None)
            mark("power")
        waits = self.power.sleep_ms if self.power is not None else None
        self.supervisor = Supervisor(log.child("super"), hw.wdt, sleep_ms=waits)
        if self.updates is not None and waits is not None:
            self.updates.sleep_ms = waits  # its windows start on time while the pin sleeps
        if self.phone is not None and self.power is not None:
            self.phone.wait_ms = self.power.wait_ms  # an open phone window's passes are deadlines it knows
        mark("supervisor")
        self.motion = MotionService(hw, log.child("motion"), on_tap=self._on_tap, power=self.power, doze=sleep,
                                    bus=self.bus, on_suspect=self._on_suspect)
        mark("motion")
        if self.power is not None:
            self.power.on_wake = self.motion.kick
        self._sleep_ms = waits or asyncio.sleep_ms
        self.battery_low = LowBattery()
        self.services = [self.motion, StatusService(hw, log.child("status"), status_every_ms, self, waits,
                                                    self._on_battery)]
        mark("status")
        # With an event pack the display shows the wearer's design instead of
        # the status screen (the designs code is imported only then: heap).
        self.designs = None
        try:
            os.stat(PACK_PATH)
        except OSError:
            pass
        else:
            from cloudpin.designs import for_app

            self.designs = for_app(self, hw, log.child("designs"), PACK_PATH)
        if self.designs is not None:
            mark("designs")
            self.services.append(self.designs)
        elif hw.display is not None:
            from cloudpin.statusscreen import DisplayService

            b = hw.board.get("button") or {}
            self.services.append(DisplayService(hw.display, self, status_every_ms, hw.button,
                                                b.get("active_low", True)))  # as board.build wires its pull-up
            mark("display")
        for svc in (self.updates, self.meet, self.phone):
            if svc is not None:
                self.services.append(svc)
        if self.power is not None:
            self.services.append(self.power)  # last: it sleeps once the others wait
        self.wdt_timer = None

    def _social(self, hw, log, mark):
        # Meet and greet needs the event's keys (identity "social"): the radio
        # owner, the friend list (one store for every service) and the
        # friend-update windows. Without them the radio is never switched on.
        from cloudpin import identity

        ident = identity.load(hw.nvs)
        if not ident["social"]:
            return
        from cloudpin.social import advert
        from cloudpin.ble.radio import RadioOwner
        from cloudpin.social.friends import Friends
        from cloudpin.social.updates import UpdatesService, utc_ms

        self.radio = RadioOwner(hw.ble, log.child("radio"), self.bus)
        if hw.battery is not None:
            hw.battery.radio = self.radio  # a scan's load would sag its readings
        mark("radio")
        self.friends = Friends(log=log.child("friends"))
        self.friends.open()
        mark("friends")
        fk, tk = advert.derive_keys(ident["id_key"], ident["event_key"])
        rtc = hw.rtc

        def make_sync():
            # friends keep each other's clocks (the RTC drifts in light sleep:
            # docs/clock.md); loaded with the first friend
            from cloudpin.social.clocksync import for_app

            return for_app(rtc, log.child("clock"))

        self.updates = UpdatesService(self.radio, self.friends, fk, tk, log.child("updates"), self.bus,
                                      lambda: utc_ms(rtc), self._today, make_sync=make_sync)
        mark("updates")
        # The tap handshake (bus.TAP -> friend): it sends the owner's public card
        from cloudpin import owner

        card = owner.load(log.child("owner"))
        if card is None:
            log.warning("meet and greet: no owner card, taps make no friends")
            return
        from cloudpin.social.meet import Meet

        self.meet = Meet(self.radio, self.bus, log.child("meet"), self.friends, (fk, tk), card,
                         unix=lambda: utc_ms(rtc) // 1000)
        mark("meet")

    def _today(self, unix_s):
        # (steps, friends made) today for the UPDATE frame: the daily counters
        # when a service keeps them (app.daily), else the step count since boot
        daily = getattr(self, "daily", None)
        if daily is not None:
            return daily.today(unix_s)
        counter = self.motion.steps
        return (counter.steps if counter is not None else 0), 0

    def _on_tap(self, t_ms, mg):
        self.bus.publish(bus_topics.TAP, t_ms, mg)

    def _on_suspect(self, t_ms, on):
        self.bus.publish(bus_topics.TAP_SUSPECT, t_ms, on)

    def _on_battery(self, pct):
        # the phone service sends bus.BATTERY on; the wearer sees a red flash while low
        if self.battery_low.update(pct):
            self.log.warning("battery %s at %d%%" % ("low" if self.battery_low.low else "recovered", pct))
        self.bus.publish(bus_topics.BATTERY, pct, self.battery_low.low)
        if self.battery_low.low and self.hw.led is not None:
            asyncio.create_task(self._flash("red", _LOW_FLASH_MS))

    def _on_again(self, reason):
        asyncio.create_task(self._flash("yellow", _AGAIN_BLINK_MS, 3))

    async def _flash(self, colour, ms, n=1):
        led = self.hw.led
        for i in range(n):
            if i:
                await self._sleep_ms(ms)
            led.set(colour)
            await self._sleep_ms(ms)
            led.set("off")

    def summary(self):
        # badge= lets `cloudpin logs` label every port without stopping the app
        return "badge=%s %s" % (self.badge, self.motion.summary())

    async def main(self, run_ms=0):
        b = self.hw.board
        self.log.info("cloudpin %s badge=%s board=%s accel=%s faults=%s" % (
            VERSION, self.badge, b["name"], b["accel"]["type"], ",".join(self.hw.faults) or "none"))
        if self.hw.led is not None:
            asyncio.create_task(self._flash("green" if not self.hw.faults else "red", _BOOT_LED_MS))
        self.supervisor.start(self.services)
        if run_ms:
            # through the sleeper's registry: a light sleep ends on time
            await (self.power.sleep_ms(run_ms) if self.power is not None else asyncio.sleep_ms(run_ms))
            self.supervisor.stop()
            await asyncio.sleep_ms(0)
        else:
            while True:
                await asyncio.sleep_ms(60000)

    def run(self, run_ms=0):
        try:
            asyncio.run(self.main(run_ms))
        except KeyboardInterrupt:
            # Ctrl-C from a host tool (mpremote, the desk) drops to the REPL.
            # An ESP32 watchdog cannot be stopped once started, so a hardware
            # timer keeps feeding it and the REPL session survives.
            if self.hw.wdt is not None:
                from cloudpin.board import wdt_keeper

                self.wdt_timer = wdt_keeper(self.hw.wdt)
            self.log.warning("app stopped by Ctrl-C; REPL ready")
            raise


def main(board_path="board.json", run_ms=0):
    """Entry point from main.py: board file -> hardware -> app."""
    from cloudpin import board as board_layer
    from cloudpin.boardspec import BoardError

    log = Logger("app")
    try:
        board = board_layer.load_board_file(board_path)
    except BoardError as e:
        log.error("cannot start: %s" % e)
        return None
    hw = board_layer.build(board, log.child("board"))
    board_layer = BoardError = None
    app = App(hw, log)
    _drop_boot_modules()
    app.run(run_ms)
    return app


# Modules only the boot uses: the board file's validator (the largest module
# the app loads, docs/heap.md) and the identity store's reader. Dropped once
# the app is built, so that their code's heap comes back; a later import
# (the desk's self-test) loads them again.
_BOOT_ONLY = ("boardspec", "identity")


def _drop_boot_modules():
    import gc

    import cloudpin

    cloudpin.unload(cloudpin, _BOOT_ONLY)
    gc.collect()
