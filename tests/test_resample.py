"""host_tools.bench.resample: band-limited resampling of uneven recordings."""
import numpy as np
import pytest

from host_tools.bench import resample as rs


def _jittered(rate, seconds, seed=1):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) * 1000.0 / rate
    return t + rng.uniform(-0.1, 0.1, len(t)) * 1000.0 / rate


def test_upsampling_interpolates_band_limited_signal():
    t = _jittered(12.5, 20)
    f = 1.7  # Hz, a walking cadence
    x = 0.5 * np.sin(2 * np.pi * f * t / 1000)
    t2, x2, y2, z2 = rs.resample(t, x, np.zeros_like(x), np.ones_like(x), 400)
    assert np.allclose(np.diff(t2), 2.5)
    inner = (t2 > t2[0] + 1500) & (t2 < t2[-1] - 1500)
    truth = 0.5 * np.sin(2 * np.pi * f * t2 / 1000)
    # within 1% of full scale between the original samples too: not sample-and-hold
    assert np.max(np.abs(x2[inner] - truth[inner])) < 0.005
    assert np.max(np.abs(z2 - 1.0)) < 1e-9  # gravity kept exactly, edges included


def test_decimation_removes_content_above_new_nyquist():
    t = np.arange(3000) * 10.0  # 100 Hz, 30 s
    slow = np.sin(2 * np.pi * 1.0 * t / 1000)
    fast = np.sin(2 * np.pi * 30.0 * t / 1000)  # would alias to 5 Hz at 12.5 Hz
    t2, x2, _, _ = rs.resample(t, slow + fast, slow, slow, 12.5)
    _, s2, _, _ = rs.resample(t, slow, slow, slow, 12.5)
    inner = slice(20, -20)
    assert np.max(np.abs(x2[inner] - s2[inner])) < 0.01
    assert np.max(np.abs(s2[inner] - np.sin(2 * np.pi * t2[inner] / 1000))) < 0.01
    # sample picking would have kept the alias at full amplitude
    picked = (slow + fast)[::8][:len(t2)]
    assert np.max(np.abs(picked[inner] - s2[inner])) > 0.5


def test_load_csv_drops_repeated_timestamps(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("t_ms,x,y,z\n0,0,0,1\n10,0.1,0,1\n10,0.2,0,1\n\n20,0.3,0,1\n")
    t, x, y, z = rs.load_csv(p)
    assert list(t) == [0, 10, 20] and list(x) == [0, 0.1, 0.3] and list(z) == [1, 1, 1]


@pytest.mark.parametrize("text,msg", [
    ("", "empty"),
    ("time,a,b,c\n0,0,0,1\n1,0,0,1\n", "header"),
    ("t_ms,x,y,z\n0,0,0,1\n1,0,zz,1\n", ":3:"),
    ("t_ms,x,y,z\n0,0,0,1\n", "at least 2"),
])
def test_load_csv_errors_name_the_problem(tmp_path, text, msg):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(rs.RecordingError, match=msg):
        rs.load_csv(p)
    with pytest.raises(rs.RecordingError, match="No such file"):
        rs.load_csv(tmp_path / "missing.csv")


def test_to_mg_int16_interleaves_and_clips():
    out = rs.to_mg_int16(np.array([0.001, 40.0]), np.array([-1.0, 0]), np.array([1.0005, -0.0004]))
    assert out.dtype == np.dtype("<i2")
    assert list(out) == [1, -1000, 1000, 32767, 0, 0]


def test_load_csv_reads_a_spreadsheet_bom_and_refuses_other_units(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes("\ufefft_ms,x,y,z\n0,0,0,1\n20,0,0.1,1\n".encode("utf-8"))
    t, x, y, z = rs.load_csv(p)
    assert list(t) == [0, 20] and list(y) == [0, 0.1]
    for scale, unit in ((9.80665, "m/s^2"), (1000.0, "mg")):
        q = tmp_path / ("%s.csv" % scale)
        q.write_text("t_ms,x,y,z\n0,0,0,%g\n20,0,0.1,%g\n40,0.2,0,%g\n" % (scale, scale, 0.9 * scale))
        with pytest.raises(rs.RecordingError, match="must be in g; these look like %s" % unit.replace("^", r"\^")):
            rs.load_csv(q)


@pytest.mark.parametrize("times,unit", [
    ((0, 0.02, 0.04, 0.06), "seconds"),  # 50 Hz written in seconds
    ((0, 20000, 40000, 60000), "microseconds"),
])
def test_load_csv_refuses_timestamps_that_are_not_milliseconds(tmp_path, times, unit):
    p = tmp_path / "r.csv"
    p.write_text("t_ms,x,y,z\n" + "".join("%g,0,0,1\n" % t for t in times))
    with pytest.raises(rs.RecordingError, match="t_ms must be milliseconds.*look like %s" % unit):
        rs.load_csv(p)
    p.write_text("t_ms,x,y,z\n" + "".join("%g,0,0,1\n" % (t * 1000 if unit == "seconds" else t / 1000)
                                          for t in times))
    assert len(rs.load_csv(p)[0]) == 4  # the same samples in ms load


def test_load_csv_names_a_file_that_is_not_utf8(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes(b"t_ms,x,y,z\n0,0,0,1\n\xff\xfe,0,0,1\n")
    with pytest.raises(rs.RecordingError, match=r"r\.csv:3: not UTF-8 text \(byte 0xff\)"):
        rs.load_csv(p)
