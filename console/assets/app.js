// cte console: the page is rendered by the server; this script runs the
// buttons (through the JSON API under /api/v1/) and keeps the audit log live.
"use strict";

const api = async (method, path, body) => {
  const opts = { method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch("/api/v1/" + path, opts);
  let data = null;
  try { data = await res.json(); } catch (e) { /* no body */ }
  if (!res.ok) throw new Error((data && data.error) || res.status + " " + res.statusText);
  return data;
};

const toast = (msg, isError) => {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.className = "show" + (isError ? " error" : "");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.className = ""; }, isError ? 10000 : 5000);
};

// ask shows the dialog with the named fields and resolves to their values, or
// null when cancelled.
const ask = (title, fields) => new Promise((resolve) => {
  const d = document.getElementById("ask");
  document.getElementById("ask-title").textContent = title;
  d.querySelectorAll("[data-field]").forEach((l) => { l.hidden = !fields.includes(l.dataset.field); });
  d.querySelector("form").reset();
  d.onclose = () => {
    if (d.returnValue !== "ok") return resolve(null);
    const f = new FormData(d.querySelector("form"));
    resolve(Object.fromEntries(f.entries()));
  };
  d.returnValue = "";
  d.showModal();
});

const picked = () => Array.from(document.querySelectorAll("input.pick:checked")).map((c) => c.value);
const list = (s) => (s || "").split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);

const summary = (r) => {
  const parts = [`${r.action}: ${r.values.length} value(s)`];
  if (r.unknown && r.unknown.length) parts.push(`${r.unknown.length} not stored`);
  for (const s of r.shares || []) parts.push(`${s.config}: ${s.applied} applied, ${s.retracted} retracted`);
  if (r.error) parts.push("error: " + r.error);
  return parts.join(" · ");
};

const planText = (p) => {
  const types = Object.entries(p.byType).map(([t, n]) => `${n} ${t}`).join(", ") || "none";
  let s = `matched ${p.matched} (${types}) · new ${p.new} · changed ${p.changed} · unchanged ${p.unchanged}` +
    ` · retry ${p.retry} · rejected ${p.rejected} · over capacity ${p.overCapacity} · to retract ${p.toRetract}`;
  const ex = Object.entries(p.excluded).map(([k, n]) => `${n} ${k}`).join(", ");
  if (ex) s += ` · left out: ${ex}`;
  if (p.mode === "replace") s += p.wouldPush ? " · the list would be pushed" : " · the list is up to date";
  if (p.guardrail) s += " · the guardrail would refuse the push";
  if (p.muted) s += " · the rule is muted";
  return s;
};

const actions = {
  async sync(b) {
    const r = await api("POST", `plugins/${encodeURIComponent(b.dataset.name)}/sync`);
    toast(`${r.source}: pulled ${r.indicators}, ${r.shares.length} share(s) in ${r.took}` + (r.error ? " · error: " + r.error : ""), !!r.error);
    setTimeout(() => location.reload(), 1200);
  },
  async validate(b) {
    const r = await api("POST", `plugins/${encodeURIComponent(b.dataset.name)}/validate`);
    toast(r.ok ? `${r.plugin}: valid` : `${r.plugin}: ${r.error}`, !r.ok);
  },
  async test(b) {
    const p = await api("POST", `sharing/${encodeURIComponent(b.dataset.name)}/test`);
    const row = document.querySelector(`tr[data-result="${CSS.escape(b.dataset.name)}"]`);
    row.hidden = false;
    row.firstElementChild.textContent = "Test: " + planText(p);
  },
  async replay(b) {
    const a = await ask(`Replay ${b.dataset.name}: send everything it selects again?`, []);
    if (!a) return;
    const r = await api("POST", `sharing/${encodeURIComponent(b.dataset.name)}/replay`);
    toast(`${r.config}: sent ${r.sent}, applied ${r.applied}` + (r.error ? " · error: " + r.error : ""), !!r.error);
  },
  async "mark-safe"() { await act("mark-safe", "Mark safe (false positive)", ["reason"]); },
  async "unmark-safe"() { await act("unmark-safe", null, []); },
  async tag() { await act("tag", "Add tags", ["tags"]); },
  async untag() { await act("untag", "Remove tags", ["tags"]); },
  async delete() { await act("delete", "Delete the records (and retract them)", ["reason"]); },
  async add() {
    const a = await ask("Add indicators (manual source)", ["values", "tags", "severity"]);
    if (!a) return;
    const indicators = list(a.values).map((value) => ({ value, tags: list(a.tags), severity: a.severity }));
    const r = await api("POST", "indicators", { indicators });
    toast(summary(r), !!r.error);
    setTimeout(() => location.reload(), 1200);
  },
};

// act runs an indicator action on the selected rows.
async function act(name, title, fields) {
  const values = picked();
  if (!values.length) { toast("Select indicators first (the boxes on the left).", true); return; }
  let body = { values };
  if (title) {
    const a = await ask(`${title}: ${values.length} value(s)`, fields);
    if (!a) return;
    body = { values, reason: a.reason, tags: list(a.tags) };
  }
  const r = await api("POST", "indicators/" + name, body);
  toast(summary(r), !!r.error);
  setTimeout(() => location.reload(), 1500);
}

document.addEventListener("click", async (ev) => {
  const b = ev.target.closest("button[data-act]");
  if (!b || !actions[b.dataset.act]) return;
  ev.preventDefault();
  b.disabled = true;
  try { await actions[b.dataset.act](b); } catch (e) { toast(e.message, true); } finally { b.disabled = false; }
});

document.addEventListener("change", (ev) => {
  if (ev.target.id === "all") document.querySelectorAll("input.pick").forEach((c) => { c.checked = ev.target.checked; });
});

// The audit log: new entries are polled every 3 seconds.
const logs = {
  seq: 0,
  gen: 0, // the filter's generation: an answer to an older filter is dropped
  busy: false, // a poll in flight: the next waits (two with one "after" showed its entries twice)
  filter: { level: "info", config: "", since: "" },
  row(e) {
    const tr = document.createElement("tr");
    tr.className = "lvl-" + e.level;
    const cells = [e.time.replace("T", " ").replace(/\.\d+/, ""), e.level, e.config || "", e.message];
    cells.forEach((c, i) => {
      const td = document.createElement("td");
      td.textContent = c;
      if (i === 3 && e.details) {
        const div = document.createElement("div");
        div.className = "kv";
        for (const k of Object.keys(e.details).sort()) {
          const span = document.createElement("span");
          const b = document.createElement("b");
          b.textContent = k;
          span.append(b, " " + e.details[k]);
          div.append(span, " ");
        }
        td.appendChild(div);
      }
      if (i === 3 && e.resolution) {
        const div = document.createElement("div");
        div.className = "sub";
        div.textContent = e.resolution;
        td.appendChild(div);
      }
      tr.appendChild(td);
    });
    return tr;
  },
  query(after) {
    const q = new URLSearchParams({ limit: "100" });
    for (const [k, v] of Object.entries(this.filter)) if (v) q.set(k, v);
    if (after) q.set("after", String(after));
    return "logs?" + q.toString();
  },
  show(entries, replace) {
    const body = document.getElementById("logrows");
    if (replace) body.textContent = "";
    else entries = entries.filter((e) => e.seq > this.seq); // shown already
    if (!entries.length && !body.querySelector("tr:not(.empty)")) {
      body.innerHTML = '<tr class="empty"><td colspan="4">No audit entries match.</td></tr>';
      return;
    }
    if (entries.length) body.querySelectorAll("tr.empty, tr.error").forEach((r) => r.remove());
    for (const e of entries) { body.insertBefore(this.row(e), body.firstChild); this.seq = Math.max(this.seq, e.seq); }
  },
  async poll() {
    if (this.busy) return;
    this.busy = true;
    const live = document.getElementById("live");
    const gen = this.gen;
    try {
      const es = await api("GET", this.query(this.seq));
      if (gen !== this.gen) return; // the filter changed meanwhile
      this.show(es, false);
      live.textContent = "live";
      live.className = "sub";
    } catch (e) {
      live.textContent = "not updating: " + e.message;
      live.className = "bad";
    } finally {
      this.busy = false;
    }
  },
};

document.addEventListener("DOMContentLoaded", () => {
  const sec = document.getElementById("logs");
  logs.seq = Number(sec.dataset.lastSeq || 0);
  document.getElementById("logfilter").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    logs.filter = Object.fromEntries(new FormData(ev.target).entries());
    logs.seq = 0;
    const gen = ++logs.gen;
    try {
      const es = await api("GET", logs.query(0));
      if (gen !== logs.gen) return; // asked again since
      logs.show(es, true);
    } catch (e) {
      document.getElementById("logrows").innerHTML = "";
      const tr = document.createElement("tr");
      tr.className = "error";
      tr.innerHTML = '<td colspan="4"></td>';
      tr.firstChild.textContent = "Could not read the audit log: " + e.message;
      document.getElementById("logrows").appendChild(tr);
    }
  });
  setInterval(() => logs.poll(), 3000);
});
