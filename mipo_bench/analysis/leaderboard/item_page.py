"""The page's item view: per task, pick two rows and read the items where they differ, largest difference first,
filtered by won / lost / tied. The data (:func:`.items.item_view`) is embedded as JSON and every text is put on the
page with ``textContent``, never as markup; items are drawn :data:`.items.PAGE_SIZE` at a time, so a task of
5,000 items stays quick."""

from __future__ import annotations

import html

from .items import PAGE_SIZE, embedded_json

STYLE = """
section.items { margin-top: 1rem; }
section.items .controls { display: flex; gap: .8rem; flex-wrap: wrap; align-items: center; font-size: .9rem; }
section.items select { font-size: .9rem; max-width: 22rem; }
div.item { border: 1px solid #e3e7ee; border-radius: .4rem; margin: .6rem 0; padding: .5rem .7rem; }
div.item .head { font-size: .85rem; color: #5a6372; margin-bottom: .3rem; }
div.item .head b.won { color: #1a7f37; } div.item .head b.lost { color: #b42318; }
div.item .prompt, div.item .context { white-space: pre-wrap; font-size: .85rem; margin: .2rem 0; }
div.item .context { color: #5a6372; }
div.item .pair { display: grid; grid-template-columns: 1fr 1fr; gap: .6rem; }
div.item .side { background: #fafbfd; border: 1px solid #eef1f6; padding: .4rem .5rem; font-size: .84rem; }
div.item .side pre { white-space: pre-wrap; word-break: break-word; margin: .2rem 0; font-family: inherit; }
div.item .meta { color: #5a6372; font-size: .8rem; }
"""

SCRIPT = """
(function () {
  var PAGE = __PAGE_SIZE__;
  var source = document.getElementById("item-data");
  if (!source) { return; }
  var view = JSON.parse(source.textContent);
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function fmt(x) { return (Math.round(x * 1000) / 1000).toString(); }
  document.querySelectorAll("section.items").forEach(function (section) {
    var task = view[Number(section.dataset.index)];
    var selA = section.querySelector("select.a"), selB = section.querySelector("select.b");
    var keep = section.querySelector("select.keep"), list = section.querySelector("div.list");
    var count = section.querySelector("span.count"), more = section.querySelector("button.more");
    task.rows.forEach(function (label, i) {
      selA.appendChild(el("option", null, label)).value = label;
      selB.appendChild(el("option", null, label)).value = label;
    });
    if (task.rows.length > 1) { selB.selectedIndex = 1; }
    var shown = [], drawn = 0;
    function side(label, docId) {
      var box = el("div", "side");
      var texts = (task.texts[label] || {})[docId] || {};
      var score = (task.scores[label] || {})[docId];
      var seeds = (task.seeds[label] || []).length;
      box.appendChild(el("div", "meta", label + ": " + task.headline + " " + fmt(score) +
        (seeds > 1 ? " (mean of " + seeds + " seeds; the response of the first)" : "")));
      var missing = "(no text: the run's files are not here)";
      box.appendChild(el("pre", null, texts.response === undefined ? missing : texts.response));
      if (texts.answer) { box.appendChild(el("div", "meta", "extracted: " + texts.answer)); }
      if (texts.judge) { box.appendChild(el("div", "meta", "judge: " + texts.judge)); }
      return box;
    }
    function draw(upTo) {
      for (; drawn < Math.min(upTo, shown.length); drawn++) {
        var docId = shown[drawn][0], diff = shown[drawn][1], doc = task.docs[docId] || {};
        var item = el("div", "item");
        var head = el("div", "head");
        head.appendChild(el("span", null, "item " + docId + " · "));
        var outcome = diff > 0 ? "won" : diff < 0 ? "lost" : "";
        head.appendChild(el("b", outcome, outcome ? "A " + outcome : "tied"));
        head.appendChild(el("span", null, " · difference " + (diff > 0 ? "+" : "") + fmt(diff)));
        item.appendChild(head);
        item.appendChild(el("div", "prompt", doc.prompt || ""));
        if (doc.context) { item.appendChild(el("div", "context", "user's context: " + doc.context)); }
        if (doc.gold) { item.appendChild(el("div", "meta", "gold answer: " + doc.gold)); }
        var pair = el("div", "pair");
        pair.appendChild(side(selA.value, docId));
        pair.appendChild(side(selB.value, docId));
        item.appendChild(pair);
        list.appendChild(item);
      }
      more.hidden = drawn >= shown.length;
      more.textContent = "show " + Math.min(PAGE, shown.length - drawn) + " more";
    }
    function update() {
      var a = task.scores[selA.value] || {}, b = task.scores[selB.value] || {};
      var test = {differ: function (x) { return x !== 0; }, won: function (x) { return x > 0; },
                  lost: function (x) { return x < 0; }, tied: function (x) { return x === 0; }}[keep.value];
      shown = [];
      Object.keys(a).forEach(function (docId) {
        if (b[docId] === undefined) { return; }
        var diff = a[docId] - b[docId];
        if (test(diff)) { shown.push([docId, diff]); }
      });
      shown.sort(function (x, y) { return Math.abs(y[1]) - Math.abs(x[1]) || Number(x[0]) - Number(y[0]); });
      list.textContent = "";
      drawn = 0;
      count.textContent = shown.length + " item(s)";
      draw(PAGE);
    }
    [selA, selB, keep].forEach(function (s) { s.addEventListener("change", update); });
    more.addEventListener("click", function () { draw(drawn + PAGE); });
    update();
  });
})();
""".replace("__PAGE_SIZE__", str(PAGE_SIZE))


def item_sections(view: list[dict]) -> list[str]:
    """The item view's HTML: the embedded data, then one section per task with its controls."""
    if not view:
        return []
    esc = html.escape
    parts = [
        "<h2>Items behind the numbers</h2>",
        '<p class="note">Pick two rows of a task: the items where their headline scores differ, largest '
        "difference first (A's score minus B's; a row's score is the mean over its seeds), with the prompt, the "
        "user's context where there is one, both responses and the extracted answer or the judge's scores.</p>",
        f'<script type="application/json" id="item-data">{embedded_json(view)}</script>',
    ]
    for index, task in enumerate(view):
        parts += [
            f"<h3>{esc(task['task'])}: {esc(task['headline'])}</h3>",
            f'<section class="items" data-index="{index}"><div class="controls">',
            '<label>A <select class="a"></select></label><label>B <select class="b"></select></label>',
            '<label>show <select class="keep"><option value="differ">items that differ</option>'
            '<option value="won">A won</option><option value="lost">A lost</option>'
            '<option value="tied">tied</option></select></label><span class="count"></span></div>',
            '<div class="list"></div><button class="more" type="button" hidden>show more</button></section>',
        ]
    return parts
