# The event bus: delivery in order, arguments as published, a raising
# handler logged without stopping the rest, bad topics refused, and a
# publish that allocates nothing (it runs per tap and per friend update).
import gc

from cloudpin import bus as topics
from cloudpin.bus import Bus
from cloudpin.log import Logger


def _logger(lines):
    return Logger("bus", sink=lines.append)


def test_delivers_in_subscription_order_with_the_published_arguments():
    b = Bus()
    got = []
    b.subscribe(topics.TAP, lambda t, mg: got.append(("first", t, mg)))
    b.subscribe(topics.TAP, lambda t, mg: got.append(("second", t, mg)))
    b.subscribe(topics.RADIO, lambda on: got.append(("radio", on)))
    assert b.publish(topics.TAP, 1234, 900) == 2
    assert b.publish(topics.RADIO, False) == 1
    assert got == [("first", 1234, 900), ("second", 1234, 900), ("radio", False)]


def test_a_topic_nobody_listens_to_delivers_nothing():
    b = Bus()
    assert b.publish(topics.FRIEND, 3, 1000) == 0
    assert b.publish(99, 1) == 0  # not a topic: ignored, never raised on


def test_a_raising_handler_is_logged_and_the_others_still_run():
    lines = []
    b = Bus(_logger(lines))
    got = []

    def bad(slot, t):
        raise ValueError("bug")

    b.subscribe(topics.FRIEND, bad)
    b.subscribe(topics.FRIEND, lambda slot, t: got.append(slot))
    assert b.publish(topics.FRIEND, 7, 5000) == 1
    assert got == [7]
    assert any("bus topic 3 handler failed" in ln and "ValueError" in ln for ln in lines)


def test_unsubscribe_and_bad_topics():
    b = Bus()
    got = []
    h = got.append
    b.subscribe(topics.DAY, h)
    b.publish(topics.DAY, 20000)
    b.unsubscribe(topics.DAY, h)
    b.unsubscribe(topics.DAY, h)  # twice: no error
    b.publish(topics.DAY, 20001)
    assert got == [20000]
    for bad in (0, 16, -1):
        try:
            b.subscribe(bad, h)
        except ValueError:
            pass
        else:
            assert False, "topic %r accepted" % bad


def test_mp_publish_allocates_nothing():
    b = Bus()
    box = [0]

    def h(t, mg):
        box[0] = t

    b.subscribe(topics.TAP, h)
    b.publish(topics.TAP, 1, 2)  # warm up
    gc.collect()
    before = gc.mem_alloc()
    for i in range(200):
        b.publish(topics.TAP, i, 800)
    assert gc.mem_alloc() - before == 0
    assert box[0] == 199
