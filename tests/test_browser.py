"""The real server (real engine) driven by headless Chromium: the chat, the widget on a clinic page
served from another origin, escaping of hostile text, and no request leaving 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_util import bound_socket, browser_marks, expect, static_server, uvicorn_server
from mgqa.clinic import generic, packaged

WORDS = packaged()  # the default corpus's clinic.toml: today's magnesium wording
DISCLAIMER = WORDS.disclaimer
EVIL_DISCLAIMER = generic().disclaimer  # the hostile note's folder has no clinic.toml

pytestmark = browser_marks()

REPO = Path(__file__).resolve().parents[1]
DOCS_DIR = REPO / "docs"
QUESTION = "What dose of magnesium did the fibromyalgia trial use?"
FOLLOW_UP = "what about for migraines?"
EMERGENCY = "I have crushing chest pain and can't breathe"
PASSAGE = "100 milligrams of a slow-release magnesium supplement"
CITATION = "Magnesium for Fibromyalgia, Headaches and Chronic Pain"
XSS = "<img src=x onerror=alert(1)>"
WIDGET_UNAVAILABLE = "unavailable"  # the widget's message when the server cannot be reached


class Spy:
    """The real engine, with each call's question and history kept for the test to check."""

    def __init__(self, engine):
        self.engine = engine
        self.index = engine.index  # the server reads the clinic's words from it
        self.calls: list[tuple[str, list[str] | None]] = []

    def ask(self, question, history=None, k=None):
        self.calls.append((question, history))
        return self.engine.ask(question, history, k)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Two mgqa servers (the default index, and one with a hostile document) and a clinic page
    served from an allowed origin and from a refused one."""
    from mgqa.answer import get_engine
    from mgqa.embed import get_encoder
    from mgqa.index import build_corpus
    from mgqa.serve.app import create_app

    tmp = tmp_path_factory.mktemp("site")
    main_sock, evil_sock = bound_socket(), bound_socket()
    evil_base = f"http://127.0.0.1:{evil_sock.getsockname()[1]}"
    evil_image = f"![pic]({evil_base}/evil.png)"
    note = tmp / "migraine-note.txt"
    note.write_text("Magnesium and migraine\n\nMagnesium supplements may help prevent migraine attacks in some "
                    f"adults. {evil_image} {XSS} Ask your doctor before taking magnesium to prevent migraine "
                    "attacks.\n", encoding="utf-8")
    build_corpus([note], tmp / "evil-index", get_encoder())

    pages = tmp / "pages"
    pages.mkdir()
    clinic = (REPO / "examples" / "clinic.html").read_text(encoding="utf-8")
    assert 'src="http://127.0.0.1:7860/widget.js"' in clinic
    for name, port in (("main", main_sock.getsockname()[1]), ("evil", evil_sock.getsockname()[1])):
        page = clinic.replace("http://127.0.0.1:7860/widget.js", f"http://127.0.0.1:{port}/widget.js")
        (pages / f"clinic-{name}.html").write_text(page, encoding="utf-8")

    with static_server(pages) as allowed, static_server(pages) as refused, pytest.MonkeyPatch.context() as mp:
        mp.setenv("MGQA_ALLOWED_ORIGINS", allowed)
        spy = Spy(get_engine())
        main_app, evil_app = create_app(spy), create_app(get_engine(tmp / "evil-index"))
        with uvicorn_server(main_app, main_sock) as main, uvicorn_server(evil_app, evil_sock) as evil:
            yield {"main": main, "evil": evil, "allowed": allowed, "refused": refused, "spy": spy,
                   "evil_image": evil_image}


@pytest.fixture
def page(browser, recorder):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    recorder.watch(context)
    page = context.new_page()
    yield page
    context.close()
    assert recorder.outside == [], "requests left 127.0.0.1"
    assert recorder.dialogs == [], "a script opened a dialog"


def chat_ask(page, question: str) -> None:
    before = page.locator(".mgqa-answer").count()
    box = page.get_by_role("textbox").first
    box.fill(question)
    box.press("Enter")
    page.wait_for_function("n => document.querySelectorAll('.mgqa-answer').length > n", arg=before, timeout=20000)


def widget_ask(page, question: str) -> None:
    launcher = page.locator(".launcher")
    if launcher.get_attribute("aria-expanded") != "true":
        launcher.click()
    page.locator("#mgqa-input").fill(question)
    page.locator("#mgqa-input").press("Enter")
    page.locator(".turn .a, .turn .error").last.wait_for(timeout=20000)


def test_chat_answers_with_quote_citation_and_disclaimer(page, site, recorder):
    page.set_viewport_size({"width": 1100, "height": 1200})  # room for the question and the answer
    page.goto(site["main"] + "/")
    assert DISCLAIMER in page.locator("#mgqa-banner").inner_text()  # visible before any question
    chat_ask(page, QUESTION)
    answer = page.locator(".mgqa-answer").last
    text = answer.inner_text()
    assert PASSAGE in text and CITATION in text and "[1]" in text and DISCLAIMER in text
    assert answer.locator("mark").count() >= 1
    expect(page.get_by_role("textbox").first).to_be_editable()
    DOCS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS_DIR / "chat.png"))

    chat_ask(page, FOLLOW_UP)  # a follow-up is read with the conversation so far
    assert site["spy"].calls[-1] == (FOLLOW_UP, [QUESTION])
    assert DISCLAIMER in page.locator(".mgqa-answer").last.inner_text()

    chat_ask(page, EMERGENCY)  # the notice comes first, in a red box
    notice = page.locator(".mgqa-answer").last.locator(".mgqa-notice")
    assert notice.get_attribute("role") == "alert" and "emergency" in notice.inner_text().lower()
    assert notice.evaluate("n => getComputedStyle(n).backgroundColor") == "rgb(253, 232, 232)"

    # nothing of the conversation is kept in the browser
    stored = page.evaluate("""async () => ({
        local: Object.values(localStorage), session: Object.keys(sessionStorage),
        databases: indexedDB.databases ? (await indexedDB.databases()).length : 0, cookies: document.cookie})""")
    assert stored["session"] == [] and stored["databases"] == 0 and stored["cookies"] == ""
    assert all(len(v) < 200 and "magnesium" not in v.lower() for v in stored["local"]), stored["local"]
    assert all("/gradio_api/runs" not in u and "monitoring" not in u for u in recorder.urls)


def test_widget_on_an_allowed_clinic_page(page, site):
    page.goto(site["allowed"] + "/clinic-main.html")
    widget_ask(page, QUESTION)
    answer = page.locator(".turn .a").last
    text = answer.inner_text()
    assert PASSAGE in text and CITATION in text and "[1]" in text and DISCLAIMER in text
    assert page.evaluate("() => !!document.querySelector('#mgqa-widget-host').shadowRoot.querySelector('.a')")
    DOCS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS_DIR / "widget.png"))


def test_widget_on_a_refused_origin_shows_its_error(page, site, recorder):
    page.goto(site["refused"] + "/clinic-main.html")
    widget_ask(page, QUESTION)
    assert page.locator(".turn .a").count() == 0
    assert WIDGET_UNAVAILABLE in page.locator(".turn .error").last.inner_text()
    assert any(u.startswith(site["main"] + "/api/ask") for u in recorder.urls)  # it tried, CORS refused


def evil_question(site) -> str:
    return f"Can magnesium supplements help prevent migraine attacks? {XSS} {site['evil_image']}"


def _no_hostile_effects(page, recorder, scope: str) -> None:
    page.wait_for_timeout(300)  # give a stray image or handler the chance to fire
    assert page.locator(scope).count() > 0 and page.locator(f"{scope} img").count() == 0
    assert not [p for p in recorder.paths() if p.endswith("/evil.png") or p.endswith("/x")], recorder.urls


def test_hostile_text_is_shown_literally_in_the_chat(page, site, recorder):
    page.goto(site["evil"] + "/")
    chat_ask(page, evil_question(site))
    answer = page.locator(".mgqa-answer").last.inner_text()
    assert site["evil_image"] in answer and XSS in answer and EVIL_DISCLAIMER in answer
    question = evil_question(site)
    assert page.get_by_text(question, exact=True).count() >= 1  # the patient's message, literally
    _no_hostile_effects(page, recorder, "body")  # the whole page: the chat shows no image at all


def test_hostile_text_is_shown_literally_in_the_widget(page, site, recorder):
    page.goto(site["allowed"] + "/clinic-evil.html")
    widget_ask(page, evil_question(site))
    answer = page.locator(".turn .a").last.inner_text()
    assert site["evil_image"] in answer and XSS in answer and EVIL_DISCLAIMER in answer
    assert page.locator(".turn .q").last.inner_text() == evil_question(site)
    _no_hostile_effects(page, recorder, ".turn")
