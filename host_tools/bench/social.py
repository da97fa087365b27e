"""Meet-and-greet cost benchmark: what each step of firmware/cloudpin/social
costs under the MicroPython unix port (µs per call, heap bytes per call),
and the friend list at its bound (1,024 friends: add, page, update, rebuild
the RID table from flash). The ESP32 figures are an ESTIMATE (VM time x
ESP32_FACTOR, see docs/meet-and-greet.md), not a measurement.
"""
import sys

from host_tools.bench import emit
from host_tools.bench.steps import BenchError
from host_tools.fw import vm

ESP32_FACTOR = 50  # estimate: 240 MHz single-issue Xtensa LX6 vs the host x86 (docs/meet-and-greet.md)

_SCRIPT = vm.ROW_FN + r"""
import cryptolib
from cloudpin.social import kdf, advert, friends

K = b"k" * 16
row("hmac_sha256_32B", lambda: kdf.hmac_sha256(K, b"x" * 32), 300)
row("hkdf_16B", lambda: kdf.hkdf(K, K, b"cloudpin v1 rid", 16), 300)
row("derive_keys", lambda: advert.derive_keys(K, K), 100)
row("friend_subkeys", lambda: advert.friend_subkeys(K), 100)
row("aes_object", lambda: cryptolib.aes(K, 1), 1000)
a = advert.Advertiser(K, K)
row("rotate", lambda: a.rotate(123456), 1000)
row("encode_update", lambda: a.update(8000, 3, 5), 1000)
row("encode_tap", lambda: a.tap(120, a.rid, 0), 1000)
f = advert.Frame()
upd = bytes(a.update(8000, 3, 5))
tap = bytes(a.tap(120, a.rid, 0))
other = b"\x02\x01\x06\x1b\xff\x4c\x00" + bytes(24)
row("decode_update", lambda: advert.decode(upd, f), 3000)
row("decode_not_ours", lambda: advert.decode(other, f), 3000)
advert.decode(tap, f)
m = advert.TapMac(K)
row("tap_mac_check", lambda: m.check(f, 123456), 3000)
sk = advert.friend_subkeys(K)[1]
out = bytearray(16)
advert.decode(upd, f)
row("read_stats_new_aes", lambda: advert.read_stats(cryptolib.aes(sk, 1), f, 123456, out), 1000)

s = friends.Friends()
s.open()
card = {"name": "A Friend", "organisation": "Some Newsroom", "role": "reporter", "handles": ["@friend", "friend@example.org"]}
gc.collect()
h0 = gc.mem_alloc()
t0 = time.ticks_ms()
for i in range(advert.MAX_FRIENDS):
    s.add(bytes((i >> 8, i & 255)) + bytes(14), card, i)
print("BULK add_1024 %d" % time.ticks_diff(time.ticks_ms(), t0))
gc.collect()
print("HEAP store_1024 %d" % (gc.mem_alloc() - h0))
s = friends.Friends()
t0 = time.ticks_ms()
s.open()
print("BULK open_1024 %d" % time.ticks_diff(time.ticks_ms(), t0))
t0 = time.ticks_ms()
slot = 0
while slot >= 0:
    page, slot = s.page(slot, 20)
print("BULK page_1024 %d" % time.ticks_diff(time.ticks_ms(), t0))
t0 = time.ticks_ms()
for i in range(advert.MAX_FRIENDS):
    s.update(i, 5000, 2, 100000)
print("BULK update_1024 %d" % time.ticks_diff(time.ticks_ms(), t0))
r = advert.Recognizer()
t0 = time.ticks_ms()
r.build(advert.epochs_held(1780000000), s.rid_keys())
print("BULK rebuild_1024_from_flash %d" % time.ticks_diff(time.ticks_ms(), t0))
advert.decode(upd, f)
row("lookup_miss_1024", lambda: r.lookup(f.rid), 3000)
print("SIZE log_bytes %d" % __import__("os").stat("friends.log")[6])

# The tap handshake: what a tap window and an exchange cost the CPU
from cloudpin.social import tapmatch, exchange as ex
pins = [advert.Advertiser(bytes((i,)) * 16, K) for i in range(4)]
for p in pins:
    p.rotate(123456)
tm = tapmatch.TapMatch(pins[0].rid)
tm.start(1000)
frames = []
for i in (1, 2, 3):
    fr = advert.Frame()
    advert.decode(bytes(pins[i].tap(30, pins[0].rid if i == 1 else None, 3)), fr)
    frames.append(fr)
addr = bytes(6)
fr1 = frames[0]
row("tapmatch_seen", lambda: tm.seen(fr1, -24, 1040, 1, addr), 3000)
for i, fr in enumerate(frames):
    tm.seen(fr, -24 - 30 * i, 1040, 1, addr)
row("tapmatch_choose_decide", lambda: (tm.choose(), tm.decide()), 3000)
rec_a = ex.plain_record(bytes(16), card)
rec_b = ex.plain_record(b"b" * 16, card)
row("plain_record", lambda: ex.plain_record(bytes(16), card), 300)


def exchange_once():
    ini = ex.Initiator(K, pins[0].rid, pins[1].rid, rec_a, True, b"i" * 16)
    res = ex.Responder(K, pins[1].rid, rec_b, True, b"r" * 16)
    res.receive(ini.hello())
    ini.receive(res.out)
    res.receive(ini.out)
    ini.receive(res.out)
    res.receive(ini.out)


def exchange_initiator():
    ini = ex.Initiator(K, pins[0].rid, pins[1].rid, rec_a, True, b"i" * 16)
    ini.receive(REPLY)
    ini.receive(REC_R)


ini = ex.Initiator(K, pins[0].rid, pins[1].rid, rec_a, True, b"i" * 16)
res = ex.Responder(K, pins[1].rid, rec_b, True, b"r" * 16)
res.receive(ini.hello())
REPLY = res.out
ini.receive(REPLY)
res.receive(ini.out)
REC_R = res.out
row("exchange_both_sides", exchange_once, 100)
row("exchange_initiator_side", exchange_initiator, 100)


def recon_once():
    asker = ex.Asker(b"a" * 16, b"b" * 16, b"n" * 16)
    ans = ex.Answerer(ex.recon_keys(b"b" * 16), b"m" * 16, lambda fk: ex.PENDING)
    ans.receive(asker.query())
    asker.receive(ans.out)
    ans.receive(asker.out)


row("reconcile_both_sides", recon_once, 100)
print("SIZE record_bytes %d" % len(rec_a))
"""


def measure():
    out = vm.run_script(_SCRIPT, None, BenchError, what="social run")
    calls, bulk = vm.rows(out, ESP32_FACTOR), {}
    for line in out.splitlines():
        kind, name, *vals = line.split()
        if kind == "BULK":
            ms = int(vals[0])
            bulk[name] = {"vm_ms": ms, "esp32_s_estimate": round(ms * ESP32_FACTOR / 1000, 2)}
        elif kind in ("HEAP", "SIZE"):
            bulk[name] = int(vals[0])
    return {"runtime": "MicroPython unix port, pin-sized heap; esp32 figures are estimates (x%d)" % ESP32_FACTOR,
            "calls": calls, "friends_at_bound": bulk}


def add_arguments(parser):
    pass


def run(args):
    try:
        result = measure()
    except BenchError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    c = result["calls"]
    return emit(result, "decode %.1f us, lookup %.2f us, tap MAC %.1f us in the VM; rebuild of 1,024 friends %d ms" % (
        c["decode_update"]["vm_us"], c["lookup_miss_1024"]["vm_us"], c["tap_mac_check"]["vm_us"],
        result["friends_at_bound"]["rebuild_1024_from_flash"]["vm_ms"]))
