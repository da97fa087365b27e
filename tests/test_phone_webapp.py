"""The web app (webapp/) in a real headless Chromium (Debian's chromium and
chromium-driver), driven through WebDriver: the page's own protocol code
pairs with the pin's own service and shows what the pin holds. Web
Bluetooth is reached through a test-only bridge (tests/webbridge.js, put in
place before the page loads) to the test server, which forwards GATT
writes and notifications to the pin. Screenshots of each screen go to
$CLOUDPIN_SCREENSHOTS when set (docs/webapp/ holds the ones in the docs)."""
import base64
import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from host_tools.phone import appserve
from host_tools.phone.transports import Loopback, p
from host_tools.testkit import phonepin

from cloudpin import owner
from test_phone_client import ATHLETICS, SECRET, designs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
# Outside CI a machine without Chromium skips; CI installs it (.ci/run) and must run this.
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER) and not os.environ.get("CI"),
                                reason="needs chromium and chromium-driver (.ci/run installs them)")
KEY32 = base64.b32encode(SECRET).decode().rstrip("=")
BADGE = "0a292e185bbe4351"
BRIDGE_JS = (Path(__file__).parent / "webbridge.js").read_text()
CARD = {"acc": "PR-0042", "name": "Ana Lima", "organisation": "Folha de S.Paulo", "role": "photographer",
        "handles": ["@analima"], "gen": 2}
FRIENDS = [("Kenji Watanabe", "NHK", "camera operator", ["@kenji_w"]), ("Zoë Ångström", "Le Monde", "reporter", []),
           ("Olumide Adeyemi", "Reuters", "photographer", ["@olu.adeyemi", "olu@mastodon.social"]),
           ("María José Pérez", "EFE", "editor", []), ("Lukas Schneider", "dpa", "reporter", ["@lschneider"]),
           ("Priya Raman", "The Hindu", "columnist", []), ("高橋 美咲", "朝日新聞", "記者", ["@misaki_t"])]
N_FRIENDS = 40


@pytest.fixture
def pin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    friends = []
    for i in range(N_FRIENDS):
        name, org, role, handles = FRIENDS[i % len(FRIENDS)]
        card = {"name": name if i < len(FRIENDS) else "%s %d" % (name, i), "organisation": org, "role": role,
                "handles": handles}
        friends.append((card, 1785000000 + 600 * i, (3000 + 417 * i, 2 + i % 5, 1785040000) if i % 2 == 0 else None))
    return phonepin.service(SECRET, CARD, friends, designs(), badge_id=bytes.fromhex(BADGE))


class Bridge:
    """The pin side of tests/webbridge.js: one pin, one link at a time."""

    def __init__(self, service):
        self.service = service
        self.t = None
        self.lock = threading.Lock()

    def scan(self):
        b = self.service.beacon(os.urandom(4))
        return {"name": "CloudPin", "company": p.COMPANY_ID, "data": b[7:16].hex()}

    def connect(self):
        with self.lock:
            self.t = Loopback(self.service, 1)

    def push(self, msgs):
        with self.lock:
            for _, m in msgs:
                self.t.push(m)

    def write(self, data):
        with self.lock:
            self.t.send(data)

    def notify(self):
        import time

        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            with self.lock:
                out = []
                while self.t is not None:
                    f = self.t.recv(0)
                    if f is None:
                        break
                    out.append(f.hex())
            if out:
                return "\n".join(out)
            time.sleep(0.01)
        return ""


def handler_for(bridge):
    class H(appserve.Handler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n).decode()
            code, out = 200, ""
            if self.path == "/bridge/scan":
                out = json.dumps(bridge.scan())
            elif self.path == "/bridge/connect":
                bridge.connect()
            elif self.path == "/bridge/service":
                if body != p.SERVICE_UUID:
                    code, out = 404, "no such service"
                else:
                    out = json.dumps([p.RX_UUID, p.TX_UUID])
            elif self.path == "/bridge/write":
                bridge.write(bytes.fromhex(body))
            elif self.path == "/bridge/notify":
                out = bridge.notify()
            elif self.path == "/bridge/disconnect":
                pass
            else:
                code, out = 404, "?"
            data = out.encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
    return H


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=420,860"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(DRIVER), options=opts)
    d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": BRIDGE_JS})
    yield d
    d.quit()


@pytest.fixture
def site(pin):  # noqa: F811
    bridge = Bridge(pin)
    httpd = appserve.server("127.0.0.1", 0, handler_for(bridge))
    th = threading.Thread(target=httpd.serve_forever, daemon=True)
    th.start()
    yield "http://127.0.0.1:%d/" % httpd.server_port, bridge
    httpd.shutdown()
    httpd.server_close()


def shot(d, name):
    folder = os.environ.get("CLOUDPIN_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        d.save_screenshot(str(Path(folder) / ("%s.png" % name)))


def wait(d, cond, what, timeout=20):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # the page re-renders lists (replaceChildren): an element found a moment ago may be gone
    return WebDriverWait(d, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda _: cond(), message=what)


def text(d, id_):
    return d.find_element("id", id_).text


def test_the_web_app_pairs_and_shows_and_changes_what_the_pin_holds(browser, site, pin):  # noqa: F811
    d = browser
    url, bridge = site
    d.get(url + "#CLOUDPIN:1:%s:%s" % (BADGE, KEY32))
    assert text(d, "secret-state") == "Card for badge %s loaded." % BADGE.upper()
    assert "#" not in d.current_url  # the secret leaves the address bar and the history
    assert not d.find_element("id", "paste").is_displayed() and not d.find_element("id", "tabs").is_displayed()
    shot(d, "1-start")
    d.find_element("id", "connect").click()
    wait(d, lambda: d.execute_script("return document.body.dataset.paired") == "1" or text(d, "error"), "paired")
    assert text(d, "error") == ""
    assert "badge %s" % BADGE.upper() in text(d, "status")
    assert d.find_element("id", "tabs").is_displayed() and not d.find_element("id", "start").is_displayed()
    form = d.find_element("id", "card")
    wait(d, lambda: form.find_element("name", "name").get_attribute("value") == "Ana Lima", "profile shown")
    assert text(d, "acc") == "PR-0042"
    shot(d, "2-profile")
    name = form.find_element("name", "name")
    name.clear()
    name.send_keys("Ana Beatriz Lima")
    handles = form.find_element("name", "handles")
    handles.clear()
    handles.send_keys("@analima\nana@bsky.social")
    form.find_element("tag name", "button").click()
    wait(d, lambda: text(d, "saved") == "Saved on your pin.", "saved")
    card = owner.load()
    assert card["name"] == "Ana Beatriz Lima" and card["handles"] == ["@analima", "ana@bsky.social"]
    assert card["acc"] == "PR-0042" and card["role"] == "photographer"

    d.find_element("css selector", "[data-tab=friends]").click()
    wait(d, lambda: text(d, "friends-count") == "40 of 40 friends", "every friend")
    items = d.find_elements("css selector", "#friend-list li")
    assert len(items) == 40 and items[6].find_element("class name", "who").text == "高橋 美咲"
    assert "5,502 steps" in items[6].text and "steps" not in items[5].text  # latest stats where the pin has them
    shot(d, "3-friends")

    d.find_element("css selector", "[data-tab=stats]").click()
    wait(d, lambda: "Friends\n40" in text(d, "stat-list"), "stats")
    shot(d, "4-stats")

    d.find_element("css selector", "[data-tab=designs]").click()
    wait(d, lambda: len(d.find_elements("css selector", ".design")) == 2, "designs")
    assert d.execute_script("return document.querySelectorAll('.design')[1].classList.contains('shown')")  # judo
    # each shows the design as the pin draws it (webapp/designs, cloudpin designs --art), loaded by the page
    wait(d, lambda: d.execute_script("const i = [...document.querySelectorAll('.design img')];"
                                     "return i.length == 2 && i.every(x => x.complete && x.naturalWidth == 128)"),
         "design pictures")
    assert d.execute_script("return [...document.querySelectorAll('.design img')].map(x => x.src.split('/').pop())"
                            ) == ["athletics.png", "judo.png"]
    d.find_elements("css selector", ".design")[0].click()
    wait(d, lambda: pin.backend.engine.selected == ATHLETICS, "design selected on the pin")
    wait(d, lambda: d.execute_script("const b = document.querySelectorAll('.design');"
                                     "return b.length == 2 && b[0].classList.contains('shown')"), "shown")
    shot(d, "5-designs")

    d.find_element("css selector", "[data-tab=events]").click()
    bridge.push(pin.friend_event(3))
    wait(d, lambda: "New friend: María José Pérez" in text(d, "event-list"), "friend event")
    shot(d, "6-events")


def test_the_web_app_says_when_the_secret_is_wrong(browser, site):
    d = browser
    url, _ = site
    d.get(url + "#CLOUDPIN:1:%s:%s" % (BADGE, base64.b32encode(b"\x07" * 16).decode().rstrip("=")))
    d.find_element("id", "connect").click()
    wait(d, lambda: text(d, "error"), "an error")
    assert text(d, "error") == "The pin refused the secret: it belongs to someone else, or the code is wrong."
    assert d.execute_script("return document.body.dataset.paired") is None
    shot(d, "7-wrong-secret")


class AirBridge(Bridge):
    """The same bridge to a virtual badge on the emulated air: the browser's
    chooser sees the pin's phone-window advertisement as a host Central
    hears it, and GATT goes over the hub (host_tools.phone.transports.Air)."""

    def __init__(self, central):
        self.central = central
        self.t = None
        self.addr = None
        self.lock = threading.Lock()

    def scan(self):
        from host_tools.phone.transports import find_any_on_air

        ad = find_any_on_air(self.central, 30)
        if ad is None:
            return {"name": "", "company": 0, "data": ""}
        self.addr = ad.addr
        nonce, tag = p.beacon_fields(ad.data)
        return {"name": "CloudPin", "company": p.COMPANY_ID, "data": (bytes((p.BEACON_KIND,)) + nonce + tag).hex()}

    def connect(self):
        from host_tools.phone.transports import Air

        with self.lock:
            self.t = Air(self.central.connect(self.addr, 30), 30)

    def write(self, data):
        self.t.send(data)  # the Air transport waits for the badge's answer: no lock held meanwhile

    def notify(self):
        f = self.t.recv(0.5) if self.t is not None else None
        out = []
        while f is not None:
            out.append(f.hex())
            f = self.t.recv(0)
        return "\n".join(out)


@pytest.fixture
def air_site(tmp_path):
    from host_tools.air import Central
    from host_tools.bench.desk import badge_folder
    from host_tools.phone import vpin
    from host_tools.virtual_badge import VirtualBadgeFarm

    vpin.provision(badge_folder(tmp_path / "badge-1"), 25)
    with VirtualBadgeFarm(1, tmp_path) as farm, Central(farm.air, "browser") as central:
        bridge = AirBridge(central)
        httpd = appserve.server("127.0.0.1", 0, handler_for(bridge))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        yield "http://127.0.0.1:%d/" % httpd.server_port
        httpd.shutdown()
        httpd.server_close()


def test_the_web_app_pairs_with_a_virtual_badge_over_the_emulated_air(browser, air_site):
    from host_tools.phone import vpin

    d = browser
    d.get(air_site + "#CLOUDPIN:1:%s:%s" % (vpin.BADGE.hex(), base64.b32encode(vpin.KEY).decode().rstrip("=")))
    d.find_element("id", "connect").click()
    wait(d, lambda: d.execute_script("return document.body.dataset.paired") == "1" or text(d, "error"), "paired", 60)
    assert text(d, "error") == ""
    form = d.find_element("id", "card")
    wait(d, lambda: form.find_element("name", "name").get_attribute("value") == vpin.CARD["name"], "profile", 60)
    d.find_element("css selector", "[data-tab=events]").click()
    wait(d, lambda: "New friend: New Friend" in text(d, "event-list"), "the pin's friend event", 60)
    d.find_element("css selector", "[data-tab=friends]").click()
    wait(d, lambda: text(d, "friends-count") == "26 of 26 friends", "every friend over the air", 90)
