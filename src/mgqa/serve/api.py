"""The JSON API's request and documentation: parsing ``/api/ask``'s body, the OpenAPI models, and
the self-contained ``/docs`` page."""

from __future__ import annotations

import html
import json
from typing import Literal

from pydantic import BaseModel, Field

from mgqa.answer import validate
from mgqa.errors import InvalidQuestion
from mgqa.types import Triage


def parse_ask(body: bytes) -> tuple[str, list[str]]:
    """``{"question": "...", "history": ["...", ...]}`` -> (question, history), or InvalidQuestion."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidQuestion('the request body must be JSON like {"question": "..."}') from None
    if not isinstance(data, dict):
        raise InvalidQuestion('the request body must be a JSON object like {"question": "..."}')
    if "question" not in data:
        raise InvalidQuestion('the request has no "question" field')
    validate(data["question"])
    history = data.get("history")
    if history is None:
        history = []
    if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
        raise InvalidQuestion('"history" must be a list of the earlier questions, as strings')
    return data["question"], history



# ---------------------------------------------------------------- OpenAPI documentation models


class AskRequest(BaseModel):
    question: str = Field(description="The patient's question (at most MGQA_MAX_QUESTION_CHARS characters).",
                          examples=["How should I prepare for my appointment?"])
    history: list[str] = Field(default_factory=list,
                               description="The patient's earlier questions in this conversation, oldest first.")


class CitationBody(BaseModel):
    """Where a passage comes from (``Citation``; a test keeps the fields in step)."""

    n: int = Field(description="The citation's number, as shown beside the passage ([1], [2], ...).")
    doc_id: str
    title: str
    section: str | None = Field(description="The heading the passage sits under, if any.")
    source: str | None = Field(description="The document's URL where known, else its publisher, author or file name.")
    start: int = Field(description="Offset of the passage in the document's text.")
    end: int = Field(description="End offset: text == document.text[start:end].")
    link: str | None = Field(
        description="The source URL opened at the quoted passage: `source#:~:text=<start words>,<end words>`, "
                    "a URL Text Fragment (browsers that support it scroll to and highlight the passage). "
                    "null when the source is not an http(s) URL.")


class PassageBody(BaseModel):
    """A verbatim passage (``Passage``)."""

    rank: int
    text: str = Field(description="Exactly document.text[start:end].")
    score: float
    highlights: list[tuple[int, int]] = Field(description="[start, end) offsets into text of the sentences "
                                                          "that best answer the question.")
    citation: CitationBody


class AnswerBody(BaseModel):
    """The answer contract: ``Answer.to_dict()``."""

    question: str
    status: Literal["answered", "no_answer", "emergency"]
    passages: list[PassageBody]
    disclaimer: str
    notice: str | None
    triage: Triage | None = Field(description='Emergency answers only (else null): the red-flag category, what '
                                              'raised the alarm ("rule" of the floor or the learned "model") and '
                                              "the model's probability (1.0 for a rule).")


class EmergencyBody(BaseModel):
    notice: str = Field(description="What a message describing an emergency gets instead of any answer.")
    number: str = Field(description="The local emergency number, as the clinic writes it; empty when it gives none.")


class ClinicBody(BaseModel):
    """The clinic's words, from the clinic.toml of the index build served (mgqa's generic wording
    for a corpus without one)."""

    title: str = Field(description="The heading of the chat and of the widget's panel.")
    topic: str = Field(description='What patients ask about: it completes "Ask a question about …" '
                                   '(empty: "Ask a question").')
    introduction: str = Field(description="One line under the title.")
    examples: list[str] = Field(description="Example questions to offer.")
    disclaimer: str = Field(description="The medical disclaimer, as every answer carries it.")
    no_answer: str = Field(description="The notice of an answer whose status is no_answer.")
    emergency: EmergencyBody


class ApiBody(BaseModel):
    name: Literal["mgqa"]
    version: str
    clinic: ClinicBody


class ErrorBody(BaseModel):
    error: str = Field(description="One line saying what went wrong.")


class BuildBody(BaseModel):
    build_id: str = Field(description="The index build's id (UTC build time and a random suffix), "
                                      "as `mgqa index info` shows it.")
    documents: int
    passages: int
    built: str | None = Field(description="When the build was made (UTC, ISO 8601).")


class RefusalBody(BaseModel):
    build_id: str | None = Field(description="The build on disk that was not loaded (null: its manifest is unreadable).")
    reason: str = Field(description="Why, in one line.")


class HealthBody(BaseModel):
    """What one server process is serving. Always 200 while the process runs."""

    status: Literal["ok"]
    pid: int = Field(description="The server process that answered (with --workers N, one of N).")
    index: BuildBody | None = Field(description="The build this process answers from; null until it has "
                                                "loaded one (the first seconds after start, or while no "
                                                "build on disk can be loaded).")
    refused: RefusalBody | None = Field(description="The newest build on disk, when it failed verification "
                                                    "and was not swapped in (the previous one keeps serving).")


ASK_REQUEST_BODY = {
    "required": True,
    "content": {"application/json": {"schema": AskRequest.model_json_schema()}},
}
ASK_RESPONSES: dict[int | str, dict] = {
    200: {"model": AnswerBody, "description": "Verbatim passages with citations, or a notice; always the disclaimer."},
    413: {"model": ErrorBody, "description": "The request body is larger than MGQA_MAX_BODY_BYTES."},
    422: {"model": ErrorBody, "description": "Not JSON, no question, an empty question or one that is too long."},
    500: {"model": ErrorBody, "description": "Internal error."},
    503: {"model": ErrorBody, "description": "The server is busy (see Retry-After) or its index is unusable."},
}


# ---------------------------------------------------------------- /docs without external assets


def docs_page(spec: dict) -> str:
    """The OpenAPI description as one self-contained HTML page (Swagger UI would load a CDN)."""
    e = html.escape
    parts = [f"<h1>{e(spec['info']['title'])} API <small>{e(spec['info']['version'])}</small></h1>",
             f"<p>{e(spec['info'].get('description', ''))}</p>",
             '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. '
             'The chat is at <a href="/">/</a>.</p>']
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            parts.append(f"<section><h2><code>{e(method.upper())} {e(path)}</code> {e(op.get('summary', ''))}</h2>")
            if op.get("description"):
                parts.append(f"<p>{e(op['description'])}</p>")
            body = op.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                parts.append(f"<h3>Request body ({e(media)})</h3><pre>{e(json.dumps(content.get('schema', {}), indent=2))}</pre>")
            parts.append("<h3>Responses</h3><ul>")
            for code, resp in op.get("responses", {}).items():
                schemas = [c.get("schema") for c in resp.get("content", {}).values() if c.get("schema")]
                ref = schemas[0].get("$ref", "").rsplit("/", 1)[-1] if schemas else ""
                link = f' &mdash; <a href="#schema-{e(ref)}">{e(ref)}</a>' if ref else ""
                parts.append(f"<li><b>{e(str(code))}</b> {e(resp.get('description', ''))}{link}</li>")
            parts.append("</ul></section>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        parts.append(f'<h3 id="schema-{e(name)}">{e(name)}</h3><pre>{e(json.dumps(schema, indent=2))}</pre>')
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
             "pre{background:#f5f7fa;padding:.75rem;overflow:auto;font-size:.85rem}section{border-top:1px solid #ddd}")
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>mgqa API</title>'
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
