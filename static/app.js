// Hato console: the few things pages do in the browser. No inline scripts
// anywhere (the CSP forbids them); behaviour hangs off data- attributes.
"use strict";

// Forms with data-confirm ask before they submit.
document.addEventListener("submit", (e) => {
  const msg = e.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) e.preventDefault();
});

// The dashboard: counters and the 24-hour chart, refreshed every 5 seconds.
function refresh(box) {
  fetch(box.getAttribute("data-live"), { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
    .then((d) => {
      const s = d.stats;
      const values = {
        received_messages: s.received_messages,
        sent: s.relayed_messages + s.local_deliveries,
        rejected_messages: s.rejected_messages,
        spam: s.verdict_spam_junk + s.verdict_spam_quarantine + s.verdict_spam_reject,
        verdict_virus: s.verdict_virus,
        connections: d.connections,
        queue: d.queue.messages,
      };
      for (const el of box.querySelectorAll("[data-stat]")) {
        const v = values[el.getAttribute("data-stat")];
        if (v !== undefined) el.textContent = String(v);
      }
      draw(d.history);
    })
    .catch(() => {});
}

function draw(history) {
  const inLine = document.getElementById("chart-in");
  const outLine = document.getElementById("chart-out");
  if (!inLine || !outLine) return;
  const max = Math.max(1, ...history.map((m) => Math.max(m.received, m.sent)));
  const start = 1440 - history.length;
  const pts = (key) => history.map((m, i) => `${start + i},${200 - (m[key] / max) * 190}`).join(" ");
  inLine.setAttribute("points", pts("received"));
  outLine.setAttribute("points", pts("sent"));
}

window.addEventListener("DOMContentLoaded", () => {
  const box = document.querySelector("[data-live]");
  if (box) {
    refresh(box);
    setInterval(() => refresh(box), 5000);
  }
});
