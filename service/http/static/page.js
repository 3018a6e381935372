// The explanation page: POST /explain with the review, then the label, the probability as a
// bar, and the review with every word the model read shaded by its attribution. Plain
// JavaScript, no dependencies. Offsets in the response count Unicode code points, so the text
// is indexed as Array.from(text), never with the UTF-16 String.prototype.slice.
"use strict";

const NEGATIVE = [178, 24, 43]; // --negative in page.css
const POSITIVE = [33, 102, 172]; // --positive
const WHITE = [255, 255, 255];
const $ = (id) => document.getElementById(id);

function luminance([r, g, b]) {
  const lin = (c) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

// A diverging scale: white at 0, full red at -1, full blue at +1.
function shade(value) {
  const end = value < 0 ? NEGATIVE : POSITIVE;
  const t = Math.min(1, Math.abs(value));
  return WHITE.map((w, i) => Math.round(w + (end[i] - w) * t));
}

// Black or white text, whichever contrasts more (at least 4.58:1 for any background).
function textColour(rgb) {
  const l = luminance(rgb);
  return (l + 0.05) / 0.05 >= 1.05 / (l + 0.05) ? "#000" : "#fff";
}

// +0.123 / −0.123 (a true minus sign, as the legend has)
const signed = (x, digits = 3) => `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(digits)}`;

// A token of punctuation alone (or an empty span): shaded, but not one of the strongest words.
const PUNCTUATION_ONLY = /^[\p{P}\s]*$/u;

// What a word did, in words: the tooltip, the screen-reader label and the visible detail line.
function describe(token) {
  const towards = token.attribution >= 0 ? "towards positive" : "towards negative";
  const unknown = token.unknown ? "; a word the model does not know" : "";
  return `${signed(token.attribution)}, ${towards}${unknown}`;
}

function authHeaders() {
  const key = $("api-key").value.trim();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

function needKey() {
  $("key-row").hidden = false;
  $("api-key").focus();
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

// A submit that failed takes the earlier result off the screen, where it would read as the
// answer for the text now in the box.
function fail(message) {
  $("result").hidden = true;
  showError(message);
}

async function loadModel() {
  try {
    const response = await fetch("/model", { headers: authHeaders() });
    if (response.status === 401) {
      needKey();
      return;
    }
    if (!response.ok) return;
    const body = await response.json();
    $("model-version").textContent = body.model_version;
    const limit = body.serving && body.serving.max_text_chars;
    if (limit) $("review").dataset.limit = limit;
    const explain = body.serving && body.serving.explain;
    if (explain && !explain.available) showError(explain.unavailable);
  } catch (err) {
    showError(`The service did not answer: ${err}`);
  }
}

function renderShaded(text, tokens, notRead, scale) {
  const chars = Array.from(text);
  const out = $("shaded");
  out.replaceChildren();
  let at = 0;
  const plain = (end) => {
    if (end > at) out.append(chars.slice(at, end).join(""));
    at = Math.max(at, end);
  };
  const pieces = tokens.filter((t) => t.end > t.start).map((t) => ({ ...t, kind: "token" }));
  if (notRead) pieces.push({ ...notRead, kind: "not-read" });
  pieces.sort((a, b) => a.start - b.start);
  for (const piece of pieces) {
    plain(piece.start);
    const span = document.createElement("span");
    span.textContent = chars.slice(piece.start, piece.end).join("");
    span.dataset.start = piece.start;
    span.dataset.end = piece.end;
    if (piece.kind === "not-read") {
      span.className = "not-read";
      span.title = "not read: past the model's token limit";
    } else {
      const rgb = shade(piece.attribution / scale);
      span.className = piece.unknown ? "tok unknown" : "tok";
      span.dataset.attribution = piece.attribution;
      span.style.backgroundColor = `rgb(${rgb.join(",")})`;
      span.style.color = textColour(rgb);
      span.title = describe(piece);
      span.dataset.detail = `“${span.textContent}”: ${span.title}`; // the detail line's text
      span.tabIndex = 0; // keyboard users reach the detail line too
      span.setAttribute("aria-label", `${span.textContent}: ${span.title}`);
    }
    out.append(span);
    at = piece.end;
  }
  plain(chars.length);
}

// Shows the value of the word pointed at or focused, in a line that stays in view (page.css).
function showDetail(event) {
  const word = event.target.closest(".tok");
  if (word) $("word-detail").textContent = word.dataset.detail;
}

function renderStrongest(text, tokens) {
  const chars = Array.from(text);
  const word = (t) => chars.slice(t.start, t.end).join("");
  const list = (id, chosen) => {
    $(id).replaceChildren(
      ...chosen.map((t) => {
        const item = document.createElement("li");
        item.textContent = `${word(t)} (${signed(t.attribution)})`;
        return item;
      }),
    );
  };
  const words = tokens.filter((t) => !PUNCTUATION_ONLY.test(word(t)));
  const sorted = words.sort((a, b) => b.attribution - a.attribution);
  list("top-positive", sorted.filter((t) => t.attribution > 0).slice(0, 5));
  list("top-negative", sorted.reverse().filter((t) => t.attribution < 0).slice(0, 5));
}

function render(text, body, serverMs, roundTripMs) {
  const score = body.score;
  $("label").textContent = body.label;
  $("label").className = `label ${body.label}`;
  $("probability").textContent = score.toFixed(3);
  $("bar").setAttribute("aria-valuenow", score.toFixed(3));
  $("bar-fill").style.width = `${(score * 100).toFixed(1)}%`;
  renderKnown(body.known_share);
  $("model-version").textContent = body.model_version;
  $("meta").textContent =
    `model ${body.model_version}; ${serverMs} ms on the server, ${roundTripMs} ms round trip`;
  const scale = Math.max(1e-9, ...body.tokens.map((t) => Math.abs(t.attribution)));
  $("legend-min").textContent = `−${scale.toFixed(2)}`;
  $("legend-max").textContent = `+${scale.toFixed(2)}`;
  renderShaded(text, body.tokens, body.not_read, scale);
  $("word-detail").textContent = "Point at a word, or Tab to it, to see its value here.";
  renderStrongest(text, body.tokens);
  renderCompleteness(body);
  $("result").hidden = false;
}

// How much of the text the model could read as words it knows: below half, the score rests on
// little and the page says it cannot tell (the threshold the API documents for known_share).
function renderKnown(share) {
  const percent = `${Math.round(share * 100)}%`;
  const low = share < 0.5;
  $("known").className = low ? "warning" : "quiet";
  $("known").textContent = low
    ? `The model knows only ${percent} of the words it read: it cannot tell much from this ` +
      "text (another language, emoji or noise?), so read the score as a guess."
    : `The model knows ${percent} of the words it read.`;
}

// The check that the word values account for the whole score: in plain words, and the numbers
// (Integrated Gradients' completeness) behind a disclosure for whoever wants them.
function renderCompleteness(body) {
  const c = body.completeness;
  const moved = body.logit - body.baseline_logit; // the attributions should sum to this
  const total = moved + c.delta;
  const reach =
    `how far this review moved the model from where an empty text leaves it (${signed(moved)})`;
  $("completeness").textContent = c.within_tolerance
    ? `The word values add up to ${signed(total)}, matching ${reach}: the shading accounts ` +
      "for the whole score."
    : `The word values add up to ${signed(total)}, which should match ${reach} but does not ` +
      "closely: read the shading as approximate.";
  $("completeness-numbers").textContent =
    `Integrated Gradients, ${body.method.steps} steps (${c.evaluations} gradient evaluations) ` +
    `from a text of padding. The attributions sum to ${total.toFixed(4)}; logit ` +
    `${body.logit.toFixed(3)} minus baseline logit ${body.baseline_logit.toFixed(3)} is ` +
    `${moved.toFixed(4)}; the difference, ${Math.abs(c.delta).toFixed(4)}, is ` +
    `${c.within_tolerance ? "within" : "over"} the tolerance of ${c.tolerance.toFixed(3)}. ` +
    "The logit is the model's score before the sigmoid turns it into P(positive).";
}

async function explain(event) {
  event.preventDefault();
  const text = $("review").value;
  $("error").hidden = true;
  if (!text.trim()) {
    fail("Type or paste a review first.");
    $("review").focus();
    return;
  }
  const button = $("submit");
  button.disabled = true;
  button.textContent = "Explaining…";
  const started = performance.now();
  try {
    const response = await fetch("/explain", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authHeaders() },
      body: JSON.stringify({ text }),
    });
    const roundTrip = Math.round(performance.now() - started);
    const body = await response.json().catch(() => ({}));
    if (response.status === 401) {
      fail(body.message || "This service needs an API key.");
      needKey();
      return;
    }
    if (!response.ok) {
      fail(body.message || `The service answered ${response.status}.`);
      return;
    }
    const serverMs = Math.round(Number(response.headers.get("X-Total-Time")) || roundTrip);
    render(text, body, serverMs, roundTrip);
  } catch (err) {
    fail(`The service did not answer: ${err}`);
  } finally {
    button.disabled = false;
    button.textContent = "Explain";
  }
}

function countChars() {
  const n = Array.from($("review").value).length;
  const limit = $("review").dataset.limit;
  $("char-count").textContent = limit
    ? `${n.toLocaleString()} of ${Number(limit).toLocaleString()} characters.`
    : "";
}

document.addEventListener("DOMContentLoaded", () => {
  $("explain-form").addEventListener("submit", explain);
  $("review").addEventListener("input", countChars);
  $("review").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      $("explain-form").requestSubmit();
    }
  });
  $("api-key").addEventListener("change", loadModel);
  $("shaded").addEventListener("focusin", showDetail);
  $("shaded").addEventListener("mouseover", showDetail);
  loadModel();
});
