"""The web chat: a Gradio ChatInterface over ``Engine.ask``, mounted at / of the server.

Every piece of document and patient text reaches the page escaped: Gradio renders messages as
HTML, sanitises them only in the browser and would still load images, so answers are built as
HTML here with each character that HTML or Markdown could act on written as an entity.
"""

from __future__ import annotations

import html
import logging
from importlib import resources

import gradio as gr
from gradio.components.chatbot import TextMessage

from mgqa import settings
from mgqa.clinic import Clinic
from mgqa.errors import InvalidQuestion, MgqaError
from mgqa.links import is_web_url
from mgqa.serve.logs import log_internal_error
from mgqa.types import Answer, Passage

log = logging.getLogger("mgqa.web")

UNAVAILABLE = "Sorry, the assistant is unavailable right now. Please try again later."

# HTML's five plus everything Markdown or LaTeX could turn into a link, an image or formatting.
_ENTITIES = {ord(c): f"&#{ord(c)};" for c in "&<>\"'!#$()*[\\]_`{|}~\n"}


def escape(text: str) -> str:
    """Text that shows literally as HTML or Markdown: ``![a](b)`` -> ``&#33;&#91;a&#93;&#40;b&#41;``."""
    return text.translate(_ENTITIES)


# ---------------------------------------------------------------- answer -> HTML


def answer_html(answer: Answer) -> str:
    """One chat message: notice (emergency first, in red), quoted passages, citations, disclaimer."""
    parts = [f'<div class="mgqa-answer mgqa-{answer.status.replace("_", "-")}">']
    if answer.status == "emergency":
        parts.append(f'<p class="mgqa-notice" role="alert"><strong>Emergency:</strong> {escape(answer.notice or "")}</p>')
    elif answer.notice:
        parts.append(f'<p class="mgqa-notice">{escape(answer.notice)}</p>')
    parts += [_passage_html(p) for p in answer.passages]
    parts.append(disclaimer_html(answer.disclaimer))
    return "".join(parts) + "</div>"


def notice_html(message: str, disclaimer: str) -> str:
    """A message that is not an answer (bad question, server trouble), still with the disclaimer."""
    return (f'<div class="mgqa-answer mgqa-problem"><p class="mgqa-notice">{escape(message)}</p>'
            f"{disclaimer_html(disclaimer)}</div>")


def disclaimer_html(text: str) -> str:
    return f'<p class="mgqa-disclaimer"><strong>Disclaimer:</strong> {escape(text)}</p>'


def _passage_html(p: Passage) -> str:
    c = p.citation
    quote = f'<blockquote class="mgqa-quote">{_highlighted(p)}</blockquote>'
    where = escape(c.title) + (f" &#8250; {escape(c.section)}" if c.section else "")
    cite = f'<p class="mgqa-cite"><span class="mgqa-n">&#91;{c.n}&#93;</span> {where}{_source_html(c.source, c.link)}</p>'
    return f'<div class="mgqa-passage">{quote}{cite}</div>'


def _highlighted(p: Passage) -> str:
    """The verbatim passage, escaped, with its highlighted sentences in <mark>."""
    return "".join(f"<mark>{escape(t)}</mark>" if marked else escape(t) for t, marked in p.segments())


def _source_html(source: str | None, link: str | None) -> str:
    """The source as text; a web source links to the quoted passage on its page (``link``)."""
    if not source:
        return ""
    href = link if link and is_web_url(link) else source if is_web_url(source) else None
    if href is None:
        return f" &#183; {escape(source)}"
    return f' &#183; <a href="{escape(href)}" target="_blank" rel="noopener noreferrer nofollow">{escape(source)}</a>'


# ---------------------------------------------------------------- the chat


def plain_text_chatbot(**kwargs) -> gr.Chatbot:
    """A Chatbot that shows the patient's own messages as text, never as markup.

    Only what is sent to the browser is escaped; the server-side conversation keeps the real
    text, so retry, undo and the follow-up history see exactly what was typed. (The instance's
    methods are wrapped rather than subclassed: Gradio writes a .pyi file next to the module
    of every Component subclass.)
    """
    bot = gr.Chatbot(**kwargs)
    to_browser, from_browser = bot.postprocess, bot.preprocess

    def postprocess(value):
        data = to_browser(value)
        for message in data.root:
            if message.role == "user":
                for item in message.content:
                    if isinstance(item, TextMessage):
                        item.text = escape(item.text)
        return data

    def preprocess(payload):
        messages = from_browser(payload)
        for message in messages:
            if message["role"] == "user":
                for item in message["content"]:
                    if item.get("type") == "text":
                        item["text"] = html.unescape(item["text"])
        return messages

    bot.postprocess = postprocess  # type: ignore[method-assign]
    bot.preprocess = preprocess  # type: ignore[method-assign]
    return bot


def earlier_questions(history: list[dict]) -> list[str]:
    """The patient's previous messages, oldest first, from Gradio's message history."""
    out = []
    for message in history:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        items = content if isinstance(content, list) else [content]
        text = "".join(i if isinstance(i, str) else i.get("text", "") for i in items if isinstance(i, (str, dict)))
        if text.strip():
            out.append(text)
    return out


def make_respond(asker, words: Clinic):
    """The ChatInterface function: the question and the conversation so far -> one HTML message.
    A message that is not an answer carries the disclaimer of ``words`` (the clinic's)."""
    disclaimer = words.disclaimer

    def respond(message: str, history: list[dict]) -> str:
        try:
            return answer_html(asker.ask(message, earlier_questions(history)))
        except InvalidQuestion as exc:
            return notice_html(f"Please check your question: {exc}.", disclaimer)
        except MgqaError as exc:
            log.warning("chat could not answer: %s", type(exc).__name__)
            return notice_html(UNAVAILABLE, disclaimer)
        except Exception as exc:  # noqa: BLE001 - the patient gets a message, the log gets the stack
            log_internal_error(exc, "chat")
            return notice_html(UNAVAILABLE, disclaimer)

    return respond


def build_chat(asker, words: Clinic) -> gr.Blocks:
    """A new Blocks for each app (a Blocks object is never mounted twice or launched), in the
    clinic's words."""
    about = f" about {words.topic}" if words.topic else ""
    with gr.Blocks(title=words.title, analytics_enabled=False, fill_height=True) as blocks:
        gr.HTML(banner_html(words), js_on_load=None, elem_id="mgqa-banner")
        chatbot = plain_text_chatbot(
            label=words.title, show_label=False, scale=1, height="60vh", elem_id="mgqa-chat",
            render_markdown=False, sanitize_html=True, latex_delimiters=[], allow_tags=False,
            buttons=[], feedback_options=None, allow_file_downloads=False,
            placeholder=f"Ask a question{about}" + (", or pick an example." if words.examples else "."),
        )
        gr.ChatInterface(
            make_respond(asker, words), chatbot=chatbot, examples=list(words.examples) or None, cache_examples=False,
            run_examples_on_click=True, save_history=False, flagging_mode="never", analytics_enabled=False,
            api_visibility="private", fill_height=True,
            textbox=gr.Textbox(label="Your question", placeholder=f"Type your question{about}", show_label=False,
                               max_length=settings.get("max_question_chars"), submit_btn="Send", stop_btn=False,
                               autofocus=True, scale=7),
        )
    blocks.queue(default_concurrency_limit=settings.get("max_concurrency"), max_size=settings.get("max_queue"))
    return blocks


def banner_html(words: Clinic) -> str:
    intro = f"<p>{escape(words.introduction)}</p>" if words.introduction else ""
    return f"<h1>{escape(words.title)}</h1>{intro}{disclaimer_html(words.disclaimer)}"


CSS = """
#mgqa-banner h1 { margin: 0 0 .25em; font-size: 1.6rem; }
#mgqa-banner p { margin: .25em 0; }
.mgqa-disclaimer { font-size: .9em; color: #4b5563; border-left: 4px solid #9aa5b1; padding: .3em .6em;
  background: #f5f7fa; border-radius: 4px; }
.mgqa-answer .mgqa-disclaimer { margin-top: .8em; }
.mgqa-notice { padding: .6em .8em; border-radius: 8px; margin: 0 0 .6em; }
.mgqa-emergency .mgqa-notice { background: #fde8e8; color: #7f1d1d; border: 2px solid #c81e1e; font-weight: 700; }
.mgqa-no-answer .mgqa-notice, .mgqa-problem .mgqa-notice { background: #fdf6e3; color: #5c4a12;
  border: 1px solid #d9b44a; }
.mgqa-passage { margin: 0 0 .9em; }
.mgqa-quote { margin: 0; padding: .2em 0 .2em .8em; border-left: 4px solid #9aa5b1; white-space: pre-wrap; }
.mgqa-quote mark { background: #fff3a3; color: #1f2933; padding: 0 1px; border-radius: 2px; }
.mgqa-cite { margin: .3em 0 0; font-size: .9em; color: #4b5563; }
.mgqa-n { font-weight: 700; }
/* A phone shows the heading, the disclaimer, the conversation and the question box at once. */
@media (max-width: 640px) {
  #mgqa-banner h1 { font-size: 1.3rem; }
  #mgqa-banner p { font-size: .95em; }
  #mgqa-chat { height: 50vh !important; }
}
@media (prefers-reduced-motion: reduce) {
  *, *::before, *::after { animation-duration: .01ms !important; animation-iteration-count: 1 !important;
    transition-duration: .01ms !important; scroll-behavior: auto !important; }
}
"""

# Plain font names only: a GoogleFont would make every browser fetch from fonts.googleapis.com.
FONT = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"]
FONT_MONO = ["ui-monospace", "SFMono-Regular", "Menlo", "monospace"]


def theme() -> gr.themes.Base:
    """Gradio's default look with our fonts; its pale placeholder (1.9:1) darkened to 4.8:1 (WCAG AA)."""
    return gr.themes.Default(font=FONT, font_mono=FONT_MONO).set(input_placeholder_color="#6b7280")


def a11y_head() -> str:
    """The page-head script that patches Gradio's inaccessible markup (static/chat-a11y.js)."""
    script = (resources.files("mgqa") / "static" / "chat-a11y.js").read_text(encoding="utf-8")
    return f"<script>{script}</script>"


def mount_chat(app, asker, words: Clinic) -> None:
    """Mount a fresh chat at / of ``app``, in the clinic's ``words``: no monitoring page, run
    history, footer links or errors shown."""
    gr.mount_gradio_app(
        app, build_chat(asker, words), path="/", enable_monitoring=False, run_history=False, footer_links=[],
        show_error=False, ssr_mode=False, pwa=False, mcp_server=False, max_file_size="1mb",
        theme=theme(), css=CSS, head=a11y_head(),
        app_kwargs={"docs_url": None, "redoc_url": None, "openapi_url": None},
    )
