"""docs/radio.md's "RSSI to expect" table is what the model gives: every row
(touching, 0.5 m, 1 m, 5 m; facing, and with one wearer's back turned),
its mean, spread and 10% / median / 90%, recomputed the way the doc says
(200 pairs x 20 packets, fading on) and compared within 1 dB. The table is
read from the doc, so neither can change without the other."""
import re

from cpsim.world import World

from host_tools import REPO

ROW = re.compile(r"^\| (touching \(2 cm\)|[0-9.]+ m)(, one wearer's back turned)? \| (-?\d+) dBm \| (\d+) dB \| "
                 r"(-?\d+) / (-?\d+) / (-?\d+) \|$")


def doc_rows():
    text = (REPO / "docs" / "radio.md").read_text()
    section = text.split("### RSSI to expect", 1)[1].split("\n#", 1)[0]
    table = [ln for ln in section.splitlines() if ln.startswith("|")]
    rows = []
    for line in table[2:]:
        m = ROW.match(line)
        assert m, line
        dist = 0.02 if m.group(1).startswith("touching") else float(m.group(1)[:-2])
        rows.append((dist, bool(m.group(2)), *(int(m.group(i)) for i in range(3, 8))))
    return rows


def model_row(dist, back):
    w = World()
    devs = [w.device("p%d" % i) for i in range(400)]
    rad = w.radio
    rs = []
    for i in range(0, 400, 2):
        rad.set_position(devs[i], 100 * i, 0, 180 if back else 0)  # facing +x, or its back to the other
        rad.set_position(devs[i + 1], 100 * i + dist, 0, 180)  # facing -x, towards the first
        rs.extend(rad.sample(devs[i], devs[i + 1]) for _ in range(20))
    rs.sort()
    n = len(rs)
    mean = sum(rs) / n
    sd = (sum((r - mean) ** 2 for r in rs) / n) ** 0.5
    return mean, sd, rs[n // 10], rs[n // 2], rs[9 * n // 10]


def test_the_docs_rssi_table_is_what_the_model_gives():
    rows = doc_rows()
    assert [(d, b) for d, b, *_ in rows] == [(0.02, False), (0.5, False), (1.0, False), (5.0, False),
                                            (1.0, True), (5.0, True)]
    for dist, back, mean, sd, p10, p50, p90 in rows:
        got = model_row(dist, back)
        for want, have in zip((mean, sd, p10, p50, p90), got):
            assert abs(have - want) <= 1.0, (dist, back, (mean, sd, p10, p50, p90), got)
    # touching stands at least 20 dB above anything a metre away (the doc's reading of it)
    assert rows[0][2] - rows[2][2] >= 20
