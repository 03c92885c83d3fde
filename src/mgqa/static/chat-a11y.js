/*
 * Accessibility patches for the Gradio chat, run in the page's <head> (see chat.py). Gradio
 * re-creates its blocks (e.g. the examples after the chat is cleared), so every new element is
 * patched as it appears. Upstream note: docs/upstream-gradio-examples.md.
 *
 * 1. The chat examples are a <div role="list"> whose children are plain <button>s, with no
 *    role="listitem" between them: an ARIA list with no items (axe: aria-required-children,
 *    critical), announced as an empty list. A button cannot also be a list item, so the
 *    container becomes a labelled group of buttons instead.
 * 2. The textbox and its Send button share one <label>, so the box's accessible name would be
 *    "<label text> Send"; it is named by its own label text alone.
 */
(function () {
  "use strict";

  function hasOnlyListItems(node) {
    return node.children.length > 0 && Array.prototype.every.call(node.children, function (child) {
      return child.getAttribute("role") === "listitem" || child.tagName === "LI";
    });
  }

  function patchExamples() {
    var lists = document.querySelectorAll('.examples[role="list"]');
    for (var i = 0; i < lists.length; i++) {
      if (!hasOnlyListItems(lists[i])) {
        lists[i].setAttribute("role", "group");
        lists[i].setAttribute("aria-label", "Example questions");
      }
    }
  }

  function nameTextboxes() {
    var boxes = document.querySelectorAll("label textarea:not([aria-label])");
    for (var i = 0; i < boxes.length; i++) {
      var info = boxes[i].closest("label").querySelector('[data-testid="block-info"]');
      var name = info ? info.textContent.trim() : "";
      if (name) {
        boxes[i].setAttribute("aria-label", name);
      }
    }
  }

  function patch() {
    patchExamples();
    nameTextboxes();
  }

  function start() {
    patch();
    new MutationObserver(patch).observe(document.body, { childList: true, subtree: true });
  }

  if (document.body) {
    start();
  } else {
    document.addEventListener("DOMContentLoaded", start);
  }
})();
