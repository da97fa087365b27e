"""The radio's crowd cost (issue 8: "every advertising event loops over
every scanner: cost grows as N^2"). Counted, not timed: the stations each
advertising PDU is offered to are only those listening on its channel at
that moment. The old radio offered every PDU to every scanning pin."""
from cpsim.world import World
from cpsim.blelog import ble_of
from cpsim import radio as R

PINS = 60
SCAN = (300000, 30000)  # 30 ms of every 300 ms, as the bench hall's pins


def test_a_pdu_visits_only_the_stations_listening_on_its_channel(monkeypatch):
    offered = []
    emit = R.Radio._emit

    def counting(self, st, pdu):
        offered.append(sum(1 for r in self.listen[pdu[2]] if r is not st))
        return emit(self, st, pdu)

    monkeypatch.setattr(R.Radio, "_emit", counting)
    w = World()
    bles = []
    for i in range(PINS):
        dev = w.device("p%02d" % i)
        w.radio.set_position(dev, (i % 10) * 3.0, (i // 10) * 3.0, None)
        b = ble_of(dev)
        b.irq(lambda e, d: None)
        b.active(True)
        bles.append(b)
    for i, b in enumerate(bles):
        b.gap_advertise(100000, bytes(31))
        b.gap_scan(0, *SCAN)
        w.advance(5 + i % 7)  # switched on one by one: scan windows out of step
    offered.clear()
    w.advance(3000)
    mean = sum(offered) / len(offered)
    # every pin scans, 10% of the time, one channel at a time (plus the 5 ms
    # each joins early): about 60 x 35/300 / 3 = 2.3 listeners per PDU,
    # against 59 scanning pins
    assert len(offered) > PINS * 3 * 25, len(offered)
    assert 1.0 < mean < 4.0, mean
    assert max(offered) < PINS // 3, max(offered)
