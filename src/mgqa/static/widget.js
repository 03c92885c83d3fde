/*
 * mgqa clinic-site widget. Embed with:
 *   <script src="https://clinic-mgqa.example/widget.js" defer></script>
 *
 * Plain, dependency-free JavaScript: no build step, no external fonts, images or CDNs.
 * It talks only to `${base}/api` (the clinic's words: title, examples, emergency number) and
 * `${base}/api/ask`, where `base` is derived from this script's own URL.
 * Everything lives in a shadow root, so the page's CSS cannot reach it and its CSS cannot leak.
 * All server, document and user text is rendered with textContent / text nodes only.
 * It uses no cookies or web storage and defines no global other than window.__mgqaWidgetLoaded.
 */
(function () {
  "use strict";

  if (window.__mgqaWidgetLoaded) {
    return;
  }
  window.__mgqaWidgetLoaded = true;

  // Captured at load time: document.currentScript is only set while this script first runs.
  var SCRIPT_SRC = findScriptSrc();
  var API_BASE = apiBase(SCRIPT_SRC);
  var API_URL = API_BASE + "/api/ask";
  var WORDS_URL = API_BASE + "/api";

  var HOST_ID = "mgqa-widget-host";
  var PANEL_ID = "mgqa-panel";
  var INPUT_ID = "mgqa-input";
  var TITLE_ID = "mgqa-title";
  var TIMEOUT_MS = 20000;
  var WORDS_TIMEOUT_MS = 4000; // without the clinic's words by then, the widget shows the generic ones
  var MAX_HISTORY = 6;
  var MAX_QUESTION = 1000;
  var MAX_EXAMPLES = 8;
  var UNAVAILABLE = "Sorry, the assistant is unavailable right now. Please try again later.";
  var BUSY = "The assistant is busy right now. Please try again in a moment.";
  // mgqa's generic wording (src/mgqa/data/clinic.toml), until the server's /api says the clinic's.
  var GENERIC = {
    title: "Questions for the clinic",
    topic: "",
    introduction: "Answers are quoted word for word from the clinic's vetted documents, with numbered sources.",
    examples: [],
    number: ""
  };

  var CSS = [
    ":host { all: initial !important; display: block !important; position: static !important; }",
    "[hidden] { display: none !important; }",
    ".root { all: initial; display: block; font-family: system-ui, -apple-system, 'Segoe UI', Roboto,",
    "  'Helvetica Neue', Arial, sans-serif; font-size: 15px; line-height: 1.45; color: #1f2933; }",
    ".root *, .root *::before, .root *::after { box-sizing: border-box; font-family: inherit; }",
    "button, input { font: inherit; color: inherit; margin: 0; }",
    ".launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; cursor: pointer;",
    "  background: #0b5cad; color: #fff; border: 2px solid #0b5cad; border-radius: 999px;",
    "  padding: 12px 20px; font-size: 15px; font-weight: 600; line-height: 1.2;",
    "  box-shadow: 0 4px 14px rgba(0, 0, 0, 0.25); }",
    ".launcher:hover { background: #084a8c; border-color: #084a8c; }",
    ".launcher[aria-expanded='true'] { background: #fff; color: #0b5cad; }",
    "button:focus-visible, a:focus-visible, input:focus { outline: 3px solid #b45309; outline-offset: 2px; }",
    ".panel { position: fixed; right: 20px; bottom: 80px; z-index: 2147483000;",
    "  width: 390px; max-width: calc(100vw - 24px); height: 600px; max-height: calc(100vh - 100px);",
    "  display: flex; flex-direction: column; background: #fff; color: #1f2933;",
    "  border: 1px solid #cbd2d9; border-radius: 12px; box-shadow: 0 10px 30px rgba(0, 0, 0, 0.3);",
    "  overflow: hidden; text-align: left; }",
    // Opening glides in and new answers scroll smoothly, unless the patient asked for less motion.
    ".panel:not([hidden]) { animation: mgqa-open 160ms ease-out; }",
    "@keyframes mgqa-open { from { opacity: 0; transform: translateY(12px); } to { opacity: 1; transform: none; } }",
    "@media (max-width: 480px) { .panel { right: 12px; left: 12px; width: auto; bottom: 76px; } }",
    ".header { display: flex; align-items: center; justify-content: space-between; gap: 8px;",
    "  padding: 10px 12px 10px 16px; background: #0b5cad; color: #fff; }",
    ".title { margin: 0; font-size: 16px; font-weight: 700; color: #fff; }",
    ".close { cursor: pointer; background: transparent; color: #fff; border: 0; border-radius: 6px;",
    "  font-size: 22px; line-height: 1; padding: 4px 10px; }",
    ".close:hover { background: rgba(255, 255, 255, 0.18); }",
    ".close:focus-visible { outline-color: #fff; }",
    ".log { position: relative; flex: 1 1 auto; overflow-y: auto; padding: 12px 16px; background: #f5f7fa;",
    "  scroll-behavior: smooth; }",
    ".log:focus-visible { outline: 3px solid #b45309; outline-offset: -3px; }",
    ".intro { margin: 0 0 12px; color: #52606d; font-size: 14px; }",
    ".examples { margin: 0 0 12px; padding: 0; list-style: none; display: flex; flex-wrap: wrap; gap: 6px; }",
    ".example { cursor: pointer; text-align: left; padding: 6px 10px; border-radius: 8px; font-size: 14px;",
    "  background: #fff; color: #0b5cad; border: 1px solid #0b5cad; }",
    ".example:hover { background: #e8f1fb; }",
    ".turn { margin: 0 0 16px; }",
    ".q { margin: 0 0 8px auto; max-width: 85%; width: fit-content; padding: 8px 12px; border-radius: 12px;",
    "  background: #0b5cad; color: #fff; white-space: pre-wrap; overflow-wrap: anywhere; }",
    ".a { padding: 10px 12px; border-radius: 12px; background: #fff; border: 1px solid #e4e7eb; }",
    ".notice { margin: 0 0 10px; padding: 10px 12px; border-radius: 8px; overflow-wrap: anywhere; }",
    ".emergency { background: #fde8e8; color: #7f1d1d; border: 2px solid #c81e1e; font-weight: 700; }",
    ".no-answer { background: #fdf6e3; color: #5c4a12; border: 1px solid #d9b44a; }",
    ".passage { margin: 0 0 10px; padding: 6px 0 6px 12px; border-left: 4px solid #9aa5b1;",
    "  color: #1f2933; white-space: pre-wrap; overflow-wrap: anywhere; }",
    "mark { background: #fff3a3; color: inherit; padding: 0 1px; border-radius: 2px; }",
    ".ref { font-size: 0.75em; vertical-align: super; line-height: 0; margin-left: 2px;",
    "  color: #0b5cad; font-weight: 700; white-space: nowrap; }",
    ".sources-h { margin: 8px 0 4px; font-size: 13px; font-weight: 700; color: #3e4c59; }",
    ".sources { margin: 0 0 8px; padding: 0; list-style: none; font-size: 13px; color: #3e4c59; }",
    ".sources li { margin: 0 0 4px; overflow-wrap: anywhere; }",
    "a { color: #0b5cad; text-decoration: underline; }",
    ".disclaimer { margin: 8px 0 0; font-size: 12px; color: #616e7c; }",
    ".error { padding: 10px 12px; border-radius: 8px; background: #fff0f0; color: #9b1c1c;",
    "  border: 1px solid #f8b4b4; overflow-wrap: anywhere; }",
    ".status { margin: 0; padding: 0 16px; font-size: 13px; color: #52606d; font-style: italic; }",
    ".status:not(:empty) { padding: 6px 16px; }",
    ".form { display: flex; flex-wrap: wrap; gap: 6px 8px; align-items: center; padding: 10px 12px 6px;",
    "  border-top: 1px solid #e4e7eb; background: #fff; }",
    ".label { flex: 1 0 100%; font-size: 13px; font-weight: 600; color: #3e4c59; }",
    ".input { flex: 1 1 auto; min-width: 0; padding: 8px 10px; border: 1px solid #9aa5b1;",
    "  border-radius: 8px; background: #fff; color: #1f2933; font-size: 15px; }",
    ".send { flex: 0 0 auto; cursor: pointer; padding: 8px 14px; border-radius: 8px; border: 2px solid #0b5cad;",
    "  background: #0b5cad; color: #fff; font-weight: 600; }",
    ".send:disabled { cursor: default; opacity: 0.55; }",
    ".foot { margin: 0; padding: 4px 12px 10px; font-size: 11px; color: #616e7c; background: #fff; }",
    "@media (prefers-reduced-motion: reduce) { .panel:not([hidden]) { animation: none; } .log { scroll-behavior: auto; } }"
  ].join("\n");

  function findScriptSrc() {
    var current = document.currentScript;
    if (current && current.src) {
      return current.src;
    }
    var scripts = document.getElementsByTagName("script");
    for (var i = scripts.length - 1; i >= 0; i--) {
      var src = scripts[i].src;
      if (!src) {
        continue;
      }
      try {
        if (/widget\.js$/.test(new URL(src, document.baseURI).pathname)) {
          return src;
        }
      } catch (e) {
        // not a URL: keep looking
      }
    }
    return "";
  }

  // "https://mgqa.example/widget.js" -> "https://mgqa.example"; "https://x.example/mgqa/widget.js" -> ".../mgqa".
  function apiBase(src) {
    if (!src) {
      return "";
    }
    try {
      var url = new URL(src, document.baseURI);
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        return "";
      }
      return url.origin + url.pathname.replace(/[^/]*$/, "").replace(/\/+$/, "");
    } catch (e) {
      return "";
    }
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  function isText(value) {
    return typeof value === "string" && value.length > 0;
  }

  // The href for a citation source, or null when it is not an absolute http(s) URL.
  function httpUrl(source) {
    var s = String(source).trim();
    if (!/^https?:\/\//i.test(s)) {
      return null;
    }
    try {
      var url = new URL(s);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  // Append `text` to `parent`, wrapping the highlight ranges in <mark>. Offsets count code points
  // (as the server's Python strings do), so the text is split with Array.from, not by UTF-16 units.
  function appendHighlighted(parent, text, ranges) {
    var chars = Array.from(text);
    var n = chars.length;
    var spans = [];
    if (Array.isArray(ranges)) {
      for (var i = 0; i < ranges.length; i++) {
        var r = ranges[i];
        if (!Array.isArray(r) || r.length < 2) {
          continue;
        }
        var s = Math.floor(Number(r[0]));
        var e = Math.floor(Number(r[1]));
        if (!isFinite(s) || !isFinite(e)) {
          continue;
        }
        s = Math.min(Math.max(s, 0), n);
        e = Math.min(Math.max(e, 0), n);
        if (e > s) {
          spans.push([s, e]);
        }
      }
    }
    spans.sort(function (a, b) {
      return a[0] - b[0] || a[1] - b[1];
    });
    var pos = 0;
    for (var j = 0; j < spans.length; j++) {
      var start = spans[j][0];
      var end = spans[j][1];
      if (start < pos) {
        continue; // overlaps the previous mark: skip it
      }
      if (start > pos) {
        parent.appendChild(document.createTextNode(chars.slice(pos, start).join("")));
      }
      parent.appendChild(el("mark", null, chars.slice(start, end).join("")));
      pos = end;
    }
    if (pos < n) {
      parent.appendChild(document.createTextNode(chars.slice(pos).join("")));
    }
  }

  // The clinic's words from GET /api (its clinic.toml), each checked; the generic wording for
  // anything missing or malformed.
  function clinicWords(data) {
    var c = data && typeof data === "object" && data.clinic && typeof data.clinic === "object" ? data.clinic : {};
    var emergency = c.emergency && typeof c.emergency === "object" ? c.emergency : {};
    var examples = Array.isArray(c.examples) ? c.examples.filter(isText).slice(0, MAX_EXAMPLES) : GENERIC.examples;
    return {
      title: isText(c.title) ? c.title : GENERIC.title,
      topic: typeof c.topic === "string" ? c.topic : GENERIC.topic,
      introduction: typeof c.introduction === "string" ? c.introduction : GENERIC.introduction,
      examples: examples,
      number: typeof emergency.number === "string" ? emergency.number : GENERIC.number
    };
  }

  function fetchWords() {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, WORDS_TIMEOUT_MS) : null;
    var options = { method: "GET", mode: "cors", credentials: "omit", cache: "no-store",
                    headers: { "Accept": "application/json" } };
    if (controller) {
      options.signal = controller.signal;
    }
    return fetch(WORDS_URL, options)
      .then(function (res) {
        return res.ok ? res.json() : null;
      })
      .catch(function () {
        return null;
      })
      .then(function (data) {
        if (timer) {
          clearTimeout(timer);
        }
        return clinicWords(data);
      });
  }

  // "Quotes from … In an emergency call 999." (or "your local emergency number").
  function footText(words) {
    return "Quotes from our clinic's documents. Not medical advice. In an emergency call " +
      (words.number || "your local emergency number") + ".";
  }

  function citationNumber(passage, index) {
    var c = passage.citation;
    var n = c && typeof c === "object" ? Number(c.n) : NaN;
    if (!isFinite(n)) {
      n = Number(passage.rank);
    }
    return isFinite(n) ? n : index + 1;
  }

  function renderPassages(container, passages) {
    var sources = [];
    var seen = {};
    for (var i = 0; i < passages.length; i++) {
      var p = passages[i];
      if (!p || typeof p !== "object" || typeof p.text !== "string") {
        continue;
      }
      var n = citationNumber(p, i);
      var quote = el("blockquote", "passage");
      appendHighlighted(quote, p.text, p.highlights);
      quote.appendChild(el("span", "ref", "[" + n + "]"));
      container.appendChild(quote);
      if (!seen[n]) {
        seen[n] = true;
        sources.push({ n: n, citation: p.citation && typeof p.citation === "object" ? p.citation : {} });
      }
    }
    if (!sources.length) {
      return;
    }
    sources.sort(function (a, b) {
      return a.n - b.n;
    });
    container.appendChild(el("p", "sources-h", "Sources"));
    var list = el("ol", "sources");
    for (var k = 0; k < sources.length; k++) {
      var c = sources[k].citation;
      var item = el("li");
      item.appendChild(document.createTextNode("[" + sources[k].n + "] " + (isText(c.title) ? c.title : isText(c.doc_id) ? c.doc_id : "Document")));
      if (isText(c.section)) {
        item.appendChild(document.createTextNode(" \u2014 " + c.section));
      }
      if (isText(c.source)) {
        item.appendChild(document.createTextNode(" \u2014 "));
        // citation.link opens the source page at the quoted passage (a URL Text Fragment).
        var href = httpUrl(isText(c.link) ? c.link : c.source);
        if (href) {
          var link = el("a", null, c.source);
          link.href = href;
          link.target = "_blank";
          link.rel = "noopener noreferrer nofollow";
          item.appendChild(link);
        } else {
          item.appendChild(document.createTextNode(c.source));
        }
      }
      list.appendChild(item);
    }
    container.appendChild(list);
  }

  function renderAnswer(data, foot) {
    var box = el("div", "a");
    var status = data.status;
    var passages = Array.isArray(data.passages) ? data.passages : [];
    if (status === "emergency") {
      var alertBox = el("div", "notice emergency", isText(data.notice) ? data.notice : foot);
      alertBox.setAttribute("role", "alert");
      box.appendChild(alertBox);
    } else if (isText(data.notice)) {
      box.appendChild(el("div", "notice no-answer", data.notice));
    }
    renderPassages(box, passages);
    box.appendChild(el("p", "disclaimer", isText(data.disclaimer) ? data.disclaimer : foot));
    return box;
  }

  function errorMessage(httpStatus, data) {
    if (data && typeof data === "object" && isText(data.error)) {
      var line = data.error.split(/\r?\n/)[0].trim();
      if (line) {
        return line.length > 300 ? line.slice(0, 300) + "\u2026" : line;
      }
    }
    return httpStatus === 429 || httpStatus === 503 ? BUSY : UNAVAILABLE;
  }

  function ask(question, history) {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : null;
    var options = {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      cache: "no-store",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ question: question, history: history })
    };
    if (controller) {
      options.signal = controller.signal;
    }
    function done(result) {
      if (timer) {
        clearTimeout(timer);
      }
      return result;
    }
    return fetch(API_URL, options)
      .then(function (res) {
        return res.text().then(function (body) {
          var data = null;
          try {
            data = JSON.parse(body);
          } catch (e) {
            data = null;
          }
          if (res.ok && data && typeof data === "object" && !Array.isArray(data)) {
            return done({ ok: true, data: data });
          }
          return done({ ok: false, message: res.ok ? UNAVAILABLE : errorMessage(res.status, data) });
        });
      })
      .catch(function () {
        return done({ ok: false, message: UNAVAILABLE });
      });
  }

  function build(words) {
    if (document.getElementById(HOST_ID)) {
      return;
    }
    var about = words.topic ? " about " + words.topic : "";
    var foot = footText(words);
    var host = document.createElement("div");
    host.id = HOST_ID;
    var shadow = host.attachShadow({ mode: "open" });

    var style = document.createElement("style");
    style.textContent = CSS;
    shadow.appendChild(style);

    var root = el("div", "root");
    shadow.appendChild(root);

    var launcher = el("button", "launcher", words.topic ? "Ask about " + words.topic : "Ask a question");
    launcher.type = "button";
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", PANEL_ID);
    launcher.setAttribute("aria-haspopup", "dialog");

    var panel = el("div", "panel");
    panel.id = PANEL_ID;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", launcher.textContent);
    panel.hidden = true;

    var header = el("div", "header");
    var title = el("h2", "title", words.title);
    title.id = TITLE_ID;
    var close = el("button", "close", "\u00d7");
    close.type = "button";
    close.setAttribute("aria-label", "Close");
    header.appendChild(title);
    header.appendChild(close);

    var log = el("div", "log");
    log.setAttribute("role", "log");
    log.setAttribute("aria-live", "polite");
    log.setAttribute("aria-label", "Answers");
    log.tabIndex = 0; // a keyboard user can reach the answers and scroll them with the arrow keys
    log.appendChild(el("p", "intro", ("Ask a question" + about + ". " + words.introduction).trim()));
    // Conversation starters, as in the chat: gone once the first question is asked.
    var examples = null;
    if (words.examples.length) {
      examples = el("ul", "examples");
      examples.setAttribute("aria-label", "Example questions");
      words.examples.forEach(function (text) {
        var item = el("li");
        var button = el("button", "example", text);
        button.type = "button";
        button.addEventListener("click", function () {
          input.value = text;
          input.focus(); // where a follow-up is typed; the button itself is about to go
          submit();
        });
        item.appendChild(button);
        examples.appendChild(item);
      });
      log.appendChild(examples);
    }

    var status = el("p", "status");
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");

    var form = el("form", "form");
    form.noValidate = true;
    var label = el("label", "label", "Your question");
    label.htmlFor = INPUT_ID;
    var input = el("input", "input");
    input.id = INPUT_ID;
    input.type = "text";
    input.name = "question";
    input.maxLength = MAX_QUESTION;
    input.autocomplete = "off";
    input.placeholder = "Type your question";
    var send = el("button", "send", "Send");
    send.type = "submit";
    form.appendChild(label);
    form.appendChild(input);
    form.appendChild(send);

    panel.appendChild(header);
    panel.appendChild(log);
    panel.appendChild(status);
    panel.appendChild(form);
    panel.appendChild(el("p", "foot", foot));
    root.appendChild(panel);
    root.appendChild(launcher);

    var history = []; // previous questions that got an answer, oldest first
    var busy = false;

    function open() {
      panel.hidden = false;
      launcher.setAttribute("aria-expanded", "true");
      input.focus();
    }

    function shut() {
      panel.hidden = true;
      launcher.setAttribute("aria-expanded", "false");
      launcher.focus();
    }

    function showTurn(question) {
      var turn = el("div", "turn");
      turn.appendChild(el("p", "q", question));
      log.appendChild(turn);
      log.scrollTop = log.scrollHeight;
      return turn;
    }

    function reveal(node) {
      log.scrollTop = Math.max(0, node.offsetTop - 8);
    }

    launcher.addEventListener("click", function () {
      if (panel.hidden) {
        open();
      } else {
        shut();
      }
    });

    close.addEventListener("click", shut);

    root.addEventListener("keydown", function (event) {
      if ((event.key === "Escape" || event.key === "Esc") && !panel.hidden) {
        event.preventDefault();
        event.stopPropagation();
        shut();
      }
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      submit();
    });

    function submit() {
      if (busy) {
        return;
      }
      var question = input.value.trim().slice(0, MAX_QUESTION);
      if (!question) {
        input.focus();
        return;
      }
      var sentHistory = history.slice(-MAX_HISTORY);
      if (examples) {
        log.removeChild(examples);
        examples = null;
      }
      var turn = showTurn(question);
      busy = true;
      send.disabled = true;
      log.setAttribute("aria-busy", "true");
      status.textContent = "Thinking\u2026";
      ask(question, sentHistory).then(function (result) {
        busy = false;
        send.disabled = false;
        log.removeAttribute("aria-busy");
        status.textContent = "";
        if (result.ok) {
          history.push(question);
          if (history.length > MAX_HISTORY) {
            history = history.slice(-MAX_HISTORY);
          }
          if (input.value.trim() === question) {
            input.value = "";
          }
          turn.appendChild(renderAnswer(result.data, foot));
        } else {
          turn.appendChild(el("p", "error", result.message));
        }
        reveal(turn);
      });
    }

    document.body.appendChild(host);
  }

  // The button appears once the clinic's words have arrived (or have failed to, within
  // WORDS_TIMEOUT_MS): it never changes its label under the patient's pointer.
  function start() {
    function show(words) {
      try {
        build(words);
      } catch (e) {
        // never break the clinic's page
      }
    }
    try {
      fetchWords().then(show);
    } catch (e) {
      show(clinicWords(null)); // a browser without fetch: the generic words (asking will say it is unavailable)
    }
  }

  if (document.body) {
    start();
  } else {
    document.addEventListener("DOMContentLoaded", start);
  }
})();
