// babble-presence dashboard. It lists the entities a page at a time from GET /api/v1/entities
// and follows GET /api/v1/events/entities (Server-Sent Events) for what changes, so it never
// polls and never holds the whole state. The stream is read with fetch rather than
// EventSource so that it can carry the API token.
"use strict";

(() => {
  const PAGE_SIZE = 50;
  // A change that may add or remove rows of the shown page lists it again, at most this often.
  const RELIST_AFTER_MS = 700;
  const RECONNECT_MS = [500, 1000, 2000, 5000];
  const SEEN_PER_ENTITY = 20;
  const MAX_SEEN_ENTITIES = 1000;
  const MAX_QUEUED = 50;
  const TOKEN_KEY = "babble-presence-token";

  const $ = (selector) => document.querySelector(selector);
  const state = {
    token: sessionStorage.getItem(TOKEN_KEY),
    offset: 0,
    group: "",
    q: "",
    total: 0,
    shown: new Map(), // entity -> its row
    loading: null, // the listing under way
    queued: [], // changes that came while a listing was under way
    relistTimer: null,
    detail: null, // the entity whose detail is open
    seen: new Map(), // entity -> [{at, text}] what this page saw change
    callStarts: new Map(), // Call-ID -> when the call began (ms), for its ticking duration
    reconnects: 0,
  };

  class NeedToken extends Error {}

  function authorization() {
    return state.token ? { Authorization: `Bearer ${state.token}` } : {};
  }

  async function api(path) {
    const answer = await fetch(path, { headers: authorization() });
    if (answer.status === 401) throw new NeedToken();
    if (!answer.ok) throw new Error(`${path}: ${answer.status} ${await answer.text()}`);
    return answer.json();
  }

  // Builds an element; strings become text nodes, so nothing from the server is read as HTML.
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // What the entity's BLF key shows, the way a phone shows it: [state, words].
  const RINGING = ["trying", "proceeding", "early"];
  function lampOf(e) {
    const calls = e.calls || [];
    if (calls.some((c) => c.direction === "recipient" && RINGING.includes(c.state))) return ["ringing", "Ringing"];
    const answered = calls.filter((c) => c.state === "confirmed");
    if (answered.length && answered.every((c) => c.hasmedia === false)) return ["held", "On hold"];
    if (answered.length || e.onthephone) return ["busy", "Busy"];
    if (calls.some((c) => RINGING.includes(c.state))) return ["busy", "Calling"];
    if (e.registered === false) return ["unregistered", "Unregistered"];
    if (e.dnd) return ["dnd", "Do not disturb"];
    if (e.shown === "offline") return e.registered === null && e.contacts === 0 ? ["unknown", "Unknown"] : ["unregistered", "Offline"];
    return ["idle", "Idle"];
  }

  function lamp(kind, words) {
    return el("span", { class: "lamp", "data-lamp": kind, role: "img", "aria-label": words }, words);
  }

  function inGroup(e, group) {
    switch (group) {
      case "registered": return e.contacts > 0 || e.registered === true;
      case "busy": return e.onthephone || (e.calls || []).length > 0;
      case "dnd": return e.dnd;
      case "messages": return !!e.voicemail && e.voicemail.new > 0;
      default: return true;
    }
  }

  function matches(e) {
    const q = state.q.toLowerCase();
    const named = !q || e.entity.toLowerCase().includes(q) || (e.display || "").toLowerCase().includes(q);
    return named && inGroup(e, state.group);
  }

  const SHOWN = { available: "Available", "on-the-phone": "On the phone", dnd: "Do not disturb",
    "on-the-phone-dnd": "On the phone, DND", offline: "Offline" };

  // When the call entered its state: what the server said (its duration), or else when this
  // page first saw it there; the first answer stands, so the duration does not jump back.
  const MAX_CALL_STARTS = 10000;
  function callStart(call) {
    const key = `${call.callid}/${call.state}`;
    if (!state.callStarts.has(key)) {
      if (state.callStarts.size >= MAX_CALL_STARTS) state.callStarts.clear();
      state.callStarts.set(key, Date.now() - (call.duration || 0) * 1000);
    }
    return state.callStarts.get(key);
  }

  function callWords(call) {
    const ringing = RINGING.includes(call.state);
    if (ringing) return call.direction === "initiator" ? "calling" : "ringing";
    if (call.state === "confirmed" && call.hasmedia === false) return "on hold";
    return { confirmed: "talking", terminated: "ended" }[call.state] || call.state;
  }

  function callItem(call) {
    const arrow = call.direction === "initiator" ? "→ " : call.direction === "recipient" ? "← " : "";
    const direction = call.direction === "initiator" ? "outgoing" : call.direction === "recipient" ? "incoming" : "";
    return el("li", { "data-callid": call.callid, "data-state": call.state, title: direction },
      arrow, el("span", { class: "tag" }, callWords(call)), " ", call.remote || "",
      " ", el("span", { class: "duration small", "data-since": callStart(call) }, ""));
  }

  function registrationCell(e) {
    if (e.contacts > 0) {
      return [el("span", {}, `Registered (${e.contacts})`), el("div", { class: "small" }, (e.useragents || []).join(", "))];
    }
    if (e.registered === false) return "Unregistered";
    return e.registered === true ? "Registered" : "—";
  }

  function messagesCell(e) {
    const v = e.voicemail;
    if (!v) return "—";
    const urgent = v.newurgent ? ` (${v.newurgent} urgent)` : "";
    return lamp(v.new > 0 ? "mwi-on" : "mwi-off", `${v.new} new${urgent}, ${v.old} old`);
  }

  function row(e) {
    const [kind, words] = lampOf(e);
    const v = e.voicemail;
    const tr = el("tr", {
      tabindex: "0", "data-entity": e.entity, "data-lamp": kind, "data-registered": String(e.registered),
      "data-dnd": String(e.dnd), "data-mwi-new": v ? String(v.new) : null, "data-watchers": String(e.watchers),
    },
      el("td", { "data-label": "Lamp" }, lamp(kind, words)),
      el("td", { "data-label": "Entity" }, el("div", { class: "name" }, e.entity), e.display ? el("div", { class: "display" }, e.display) : null),
      el("td", { "data-label": "Registration", class: "registration" }, registrationCell(e)),
      el("td", { "data-label": "Presence", class: "presence" }, SHOWN[e.shown] || e.shown, " ",
        e.dnd ? el("span", { class: "tag dnd" }, "DND") : null, e.note ? el("div", { class: "small" }, e.note) : null),
      el("td", { "data-label": "Calls" }, el("ul", { class: "calls" }, (e.calls || []).map(callItem))),
      el("td", { "data-label": "Messages", class: "messages" }, messagesCell(e)),
      el("td", { "data-label": "Watchers", class: "watchers" }, String(e.watchers)));
    tr.addEventListener("click", () => openDetail(e.entity));
    tr.addEventListener("keydown", (event) => { if (event.key === "Enter") openDetail(e.entity); });
    return tr;
  }

  function showCounts(counts) {
    for (const [name, n] of Object.entries(counts)) {
      const span = document.querySelector(`[data-count="${name}"]`);
      if (span) span.textContent = n.toLocaleString();
    }
  }

  function showRange() {
    const first = state.total ? state.offset + 1 : 0;
    const last = Math.min(state.offset + PAGE_SIZE, state.total);
    $("#range").textContent = `${first.toLocaleString()}–${last.toLocaleString()} of ${state.total.toLocaleString()}`;
    $("#previous").disabled = state.offset === 0;
    $("#next").disabled = last >= state.total;
    $("#empty").hidden = state.total > 0;
  }

  // Lists the page shown; changes that come meanwhile are applied after it.
  async function listPage() {
    const query = new URLSearchParams({ offset: state.offset, limit: PAGE_SIZE });
    if (state.q) query.set("q", state.q);
    if (state.group) query.set("state", state.group);
    const listing = api(`/api/v1/entities?${query}`);
    state.loading = listing;
    const page = await listing.catch((error) => {
      // A failed listing holds nothing back: changes apply again, and the next one relists.
      if (state.loading === listing) state.loading = null;
      throw error;
    });
    if (state.loading !== listing) return; // a newer listing replaced it
    state.loading = null;
    if (page.total > 0 && page.items.length === 0 && state.offset > 0) {
      state.offset = Math.max(0, Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE);
      return listPage();
    }
    state.total = page.total;
    const body = $("#entities tbody");
    body.replaceChildren();
    state.shown.clear();
    for (const e of page.items) {
      const tr = row(e);
      state.shown.set(e.entity, tr);
      body.append(tr);
    }
    showCounts(page.counts);
    showRange();
    tick();
    const queued = state.queued;
    state.queued = [];
    queued.forEach(apply);
  }

  // Whether an entity not shown that now matches could be on the page shown: the page has
  // room, or the entity sorts before its last row (the order is the API's: by name,
  // case-insensitively). One that sorts after a full page leaves the page as it is.
  function mayEnterPage(entity) {
    if (state.shown.size < PAGE_SIZE) return true;
    const last = [...state.shown.keys()].pop().toLowerCase();
    return entity.toLowerCase() < last;
  }

  function relistSoon() {
    if (state.relistTimer) return;
    state.relistTimer = setTimeout(() => { state.relistTimer = null; listPage().catch(failed); }, RELIST_AFTER_MS);
  }

  function remember(entity, text) {
    if (!state.seen.has(entity) && state.seen.size >= MAX_SEEN_ENTITIES) {
      state.seen.delete(state.seen.keys().next().value); // the entity first seen
    }
    const seen = state.seen.get(entity) || [];
    seen.push({ at: new Date(), text });
    if (seen.length > SEEN_PER_ENTITY) seen.shift();
    state.seen.set(entity, seen);
  }

  // One `entities` event of the stream.
  function apply(changes) {
    if (changes.relist) { listPage().catch(failed); return; }
    if (state.loading) {
      // Past a few, the listing under way is as good as stale: list once more after it.
      state.queued = state.queued.length < MAX_QUEUED ? [...state.queued, changes] : [{ relist: true }];
      return;
    }
    showCounts(changes.counts);
    for (const e of changes.changed) {
      const before = state.shown.get(e.entity);
      const [kind, words] = lampOf(e);
      if (!before || before.dataset.lamp !== kind) remember(e.entity, `lamp: ${words}`);
      if (before) {
        const after = row(e);
        before.replaceWith(after);
        state.shown.set(e.entity, after);
        if (!matches(e)) relistSoon();
      } else if (matches(e) && mayEnterPage(e.entity)) {
        relistSoon();
      }
      if (state.detail === e.entity) refreshDetail();
    }
    for (const gone of changes.gone) {
      if (state.shown.has(gone)) relistSoon();
    }
    tick();
  }

  function setConnection(kind, words) {
    const node = $("#connection");
    node.dataset.state = kind;
    node.textContent = words;
  }

  // Follows the entity stream for as long as the page is open, reconnecting when it drops.
  async function follow() {
    for (;;) {
      let reached = false;
      try {
        const answer = await fetch("/api/v1/events/entities", { headers: authorization() });
        if (answer.status === 401) { askForToken("The token was refused."); return; }
        if (!answer.ok) throw new Error(`stream: ${answer.status}`);
        reached = true;
        const when = new Date().toLocaleTimeString();
        setConnection("live", state.reconnects ? `live (reconnected at ${when}, ${state.reconnects}×)` : "live");
        const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, ""));
            const named = block.split("\n").find((l) => l.startsWith("event:"));
            if (data.length && named && named.slice(6).trim() === "entities") apply(JSON.parse(data.join("\n")));
          }
        }
      } catch (error) {
        console.warn("entity stream:", error);
      }
      state.reconnects += 1;
      const wait = RECONNECT_MS[Math.min(state.reconnects - 1, RECONNECT_MS.length - 1)];
      setConnection("reconnecting", `connection lost${reached ? "" : " (server unreachable)"}: reconnecting…`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  // Durations tick once a second, from when each call began.
  function tick() {
    const now = Date.now();
    for (const span of document.querySelectorAll(".duration[data-since]")) {
      const seconds = Math.max(0, Math.round((now - Number(span.dataset.since)) / 1000));
      const m = Math.floor(seconds / 60);
      span.textContent = `${m}:${String(seconds % 60).padStart(2, "0")}`;
    }
  }

  function table(headings, rows) {
    if (!rows.length) return el("p", { class: "small" }, "None.");
    return el("table", {},
      el("thead", {}, el("tr", {}, headings.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))));
  }

  const where = (a) => `${a.transport} ${a.address}:${a.port}`;

  function renderDetail(d) {
    const e = d.entity;
    const [kind, words] = lampOf(e);
    const body = $("#detail-body");
    body.replaceChildren(
      el("p", {}, "Lamp: ", lamp(kind, words), " · Presence: ", SHOWN[e.shown] || e.shown, e.note ? ` — ${e.note}` : "",
        ` · ${e.watchers} watching`),
      el("p", { class: "verdict", id: "availability", "data-available": String(e.available) },
        e.available ? "Can take a call now: yes" : `Can take a call now: no — ${e.unavailable}`),
      el("h3", {}, "Calls"),
      table(["Call-ID", "Direction", "State", "Remote", "Duration"], e.calls.map((c) =>
        [c.callid, c.direction || "—", callWords(c), c.remote || "—", el("span", { class: "duration", "data-since": callStart(c) })])),
      el("h3", {}, "Registrations"),
      table(["Contact", "User-Agent", "From", "Expires in"], d.registrations.map((r) =>
        [r.contact, r.useragent || "—", where(r.source), `${r.expires} s`])),
      el("h3", {}, `Watchers (${d.subscriptions.length})`),
      table(["Watcher", "Package", "Format", "Profile", "Expires in", "Transport"], d.subscriptions.map((s) =>
        [s.subscriber, s.event, s.contenttype, s.profile || "—", `${s.expires} s`, where(s.peer)])),
      el("h3", {}, "Our subscriptions to its phones"),
      table(["Package", "Contact", "State", "Reported", "Transport"], d.watches.map((w) =>
        [w.event, w.contact, w.state, w.reported || "—", where(w.peer)])),
      el("h3", {}, "Publications"),
      table(["Package", "Publisher", "From", "Entity-tag", "Expires in"], d.publications.map((p) =>
        [p.event, p.device, p.source || "—", p.etag, `${p.expires} s`])),
      el("h3", {}, "Last events"),
      table(["#", "Event", "Data"], d.events.map((ev) => [String(ev.seq), ev.event, el("code", { class: "data" }, JSON.stringify(ev.data))])),
      el("h3", {}, "Seen on this page"),
      table(["Time", "Change"], (state.seen.get(e.entity) || []).map((s) => [s.at.toLocaleTimeString(), s.text])));
    tick();
  }

  async function refreshDetail() {
    const entity = state.detail;
    if (!entity) return;
    const detail = await api(`/api/v1/entities/${encodeURIComponent(entity)}/detail`).catch(failed);
    if (detail && state.detail === entity) renderDetail(detail);
  }

  function openDetail(entity) {
    state.detail = entity;
    $("#detail-title").textContent = entity;
    $("#detail-body").replaceChildren(el("p", {}, "Loading…"));
    const dialog = $("#detail");
    if (!dialog.open) dialog.showModal();
    refreshDetail();
  }

  function askForToken(why) {
    $("#main").hidden = true;
    $("#login").hidden = false;
    $("#login-error").textContent = why || "";
    setConnection("connecting", "needs a token");
    $("#token").focus();
  }

  function failed(error) {
    if (error instanceof NeedToken) askForToken(state.token ? "The token was refused." : "");
    else console.error(error);
  }

  async function start() {
    try {
      await api("/api/v1/entities?limit=1");
    } catch (error) {
      failed(error);
      return;
    }
    $("#login").hidden = true;
    $("#main").hidden = false;
    follow();
  }

  function wire() {
    $("#login").addEventListener("submit", (event) => {
      event.preventDefault();
      state.token = $("#token").value.trim();
      sessionStorage.setItem(TOKEN_KEY, state.token);
      start();
    });
    let typing = null;
    $("#search").addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => { state.q = $("#search").value.trim(); state.offset = 0; listPage().catch(failed); }, 250);
    });
    $("#filters").addEventListener("submit", (event) => event.preventDefault());
    for (const button of document.querySelectorAll("#groups button")) {
      button.addEventListener("click", () => {
        for (const other of document.querySelectorAll("#groups button")) other.setAttribute("aria-pressed", String(other === button));
        state.group = button.dataset.group;
        state.offset = 0;
        listPage().catch(failed);
      });
    }
    $("#previous").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE_SIZE); listPage().catch(failed); });
    $("#next").addEventListener("click", () => { state.offset += PAGE_SIZE; listPage().catch(failed); });
    $("#detail").addEventListener("close", () => { state.detail = null; });
    setInterval(tick, 1000);
  }

  wire();
  start();
})();
