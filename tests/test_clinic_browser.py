"""A dental practice's folder (tests/data/clinic_dental), built and served with the real model, in
headless Chromium: the chat and the widget greet patients in the practice's own words (title,
introduction, examples, disclaimer, emergency number), and axe-core still finds no WCAG 2.1 AA
violation."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_util import axe_violations, bound_socket, browser_marks, expect, static_server, uvicorn_server

pytestmark = browser_marks()

DENTAL = Path(__file__).parent / "data" / "clinic_dental"
DOCS_DIR = Path(__file__).resolve().parents[1] / "docs"
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
TITLE = "Harbour Dental questions"
EXAMPLES = ["How long does a filling take?", "What can I eat after a tooth is taken out?"]
# The second example's answer. The page is served with the judge off: these tests are about the
# practice's words on the page, and whether the judge answers each example is tests/test_judge.py's.
AFTER_EXTRACTION = "Eat soft, cool foods such as yoghurt, cooled soup and mashed potato"
EMERGENCY = "My face is swelling fast and I can't breathe"


def host_page(widget: str) -> str:
    """A dental practice's home page embedding the widget."""
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Harbour Dental Practice</title>'
            '</head><body><header><h1>Harbour Dental Practice</h1></header><main><p>Check-ups, fillings and '
            "gentle extractions on the harbour front.</p></main>"
            f'<script src="{widget}" defer></script></body></html>')


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from mgqa.answer import get_engine
    from mgqa.embed import get_encoder
    from mgqa.index import build_corpus
    from mgqa.serve.app import create_app

    tmp = tmp_path_factory.mktemp("dental")
    index, _ = build_corpus([DENTAL], tmp / "index", get_encoder())
    sock = bound_socket()
    pages = tmp / "pages"
    pages.mkdir()
    (pages / "dental.html").write_text(host_page(f"http://127.0.0.1:{sock.getsockname()[1]}/widget.js"))
    with static_server(pages) as origin, pytest.MonkeyPatch.context() as mp:
        mp.setenv("MGQA_ALLOWED_ORIGINS", origin)
        with uvicorn_server(create_app(get_engine(tmp / "index").without_judge()), sock) as server:
            yield {"server": server, "origin": origin, "words": index.clinic}


def answered(page, selector: str, before: int) -> None:
    page.wait_for_function("([s, n]) => document.querySelectorAll(s).length > n", arg=[selector, before], timeout=20000)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280x900", "390x844"])
def test_the_chat_greets_patients_in_the_practices_words(new_page, site, viewport):
    words = site["words"]
    page = new_page(viewport)
    page.goto(site["server"] + "/")
    expect(page).to_have_title(TITLE)
    banner = page.locator("#mgqa-banner")
    expect(banner.locator("h1")).to_have_text(TITLE)
    assert words.introduction in banner.inner_text() and words.disclaimer in banner.inner_text()
    expect(page.locator(".examples button")).to_have_text(EXAMPLES)
    expect(page.get_by_role("textbox", name="Your question")).to_have_attribute(
        "placeholder", "Type your question about your teeth and our treatments")
    assert "magnesium" not in page.locator("body").inner_text().lower()
    assert axe_violations(page) == []

    page.locator(".examples button").last.click()  # an example asks itself
    answered(page, ".mgqa-answer", 0)
    answer = page.locator(".mgqa-answer").last.inner_text()
    assert AFTER_EXTRACTION in answer and words.disclaimer in answer
    if viewport == DESKTOP:  # README's "Bring your own pages" shows a clinic that is not the magnesium one
        page.screenshot(path=str(DOCS_DIR / "chat-own-clinic.png"))
    box = page.get_by_role("textbox", name="Your question")
    box.fill(EMERGENCY)
    box.press("Enter")
    answered(page, ".mgqa-answer", 1)
    notice = page.locator(".mgqa-answer").last.locator(".mgqa-notice")
    expect(notice).to_contain_text("Call 999 now")
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=status-tracker]')]"
                           ".every(n => n.classList.contains('hide'))")
    assert axe_violations(page) == []


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280x900", "390x844"])
def test_the_widget_greets_patients_in_the_practices_words(new_page, site, viewport):
    words = site["words"]
    page = new_page(viewport)
    page.goto(site["origin"] + "/dental.html")
    launcher = page.locator(".launcher")
    expect(launcher).to_have_text("Ask about your teeth and our treatments")
    launcher.click()
    panel = page.locator(".panel")
    expect(panel.locator(".title")).to_have_text(TITLE)
    expect(panel.locator(".intro")).to_have_text(f"Ask a question about your teeth and our treatments. {words.introduction}")
    expect(panel.locator(".example")).to_have_text(EXAMPLES)
    expect(panel.locator(".foot")).to_contain_text("In an emergency call 999.")
    assert "magnesium" not in panel.inner_text().lower()
    assert axe_violations(page) == []

    panel.locator(".example").last.click()
    panel.locator(".turn .a").last.wait_for(timeout=20000)
    expect(panel.locator(".examples")).to_have_count(0)  # conversation starters go once it has started
    expect(page.locator("#mgqa-input")).to_be_focused()
    answer = panel.locator(".turn .a").last
    expect(answer.locator(".passage").first).to_contain_text(AFTER_EXTRACTION)
    expect(answer.locator(".disclaimer")).to_have_text(words.disclaimer)
    page.locator("#mgqa-input").fill(EMERGENCY)
    page.locator("#mgqa-input").press("Enter")
    expect(panel.locator(".turn .a")).to_have_count(2, timeout=20000)
    expect(panel.locator(".turn .a").last.locator(".emergency")).to_have_text(words.emergency_notice)
    assert axe_violations(page) == []
