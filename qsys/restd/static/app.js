// qsys dashboard: reads /api/v1 (the browser's token is an HttpOnly cookie) and polls it.
"use strict";

const POLL_MS = 2000;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (k.startsWith("data-")) node.setAttribute(k, v); else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return node;
}

function fmtTime(epoch) {
  if (!epoch) return "";
  const d = new Date(epoch * 1000), p = (n) => String(n).padStart(2, "0");
  return `${p(d.getMonth() + 1)}/${p(d.getDate())}/${d.getFullYear()} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function showMessage(text, ok) {
  const box = document.getElementById("message");
  if (!box) return;
  box.replaceChildren(el("div", { class: "message " + (ok ? "ok" : "error") }, text));
}

async function api(path, options) {
  const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
  if (opts.body && typeof opts.body !== "string") {
    opts.body = JSON.stringify(opts.body);
    opts.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, opts);
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) {
    showMessage("Not signed in: " + (data.error || "") + " — open the address 'qsys up --rest' printed, or sign in at /login.", false);
  }
  if (!response.ok) throw Object.assign(new Error(data.error || response.statusText), { status: response.status });
  return data;
}

function stateBadge(state, family) {
  return el("span", { class: "state " + (family || "") }, state);
}

async function showWho() {
  try {
    const who = await api("/api/v1/whoami");
    const box = document.getElementById("who");
    if (box) box.textContent = `${who.user} (${who.via})`;
    return who;
  } catch (e) { return null; }
}

function poll(fn) {
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    try { await fn(); } catch (e) { /* shown by api() */ }
    setTimeout(tick, POLL_MS);
  };
  tick();
  return () => { stopped = true; };
}

// ---------------------------------------------------------------- summary page

function renderSummary(s) {
  const cards = [
    ["hosts-up", s.hosts.up.length, "hosts up"],
    ["hosts-down", s.hosts.down.length, "hosts down", s.hosts.down.length > 0],
    ["hosts-unknown", s.hosts.unknown.length, "hosts unknown", s.hosts.unknown.length > 0],
    ["jobs-pending", s.jobs.pending, "pending"],
    ["jobs-running", s.jobs.running, "running"],
    ["jobs-suspended", s.jobs.suspended, "suspended"],
    ["dispatch-rate", s.dispatch_rate_per_minute, "dispatched / min"],
  ];
  document.getElementById("summary").replaceChildren(...cards.map(([id, n, label, bad]) =>
    el("div", { class: "card" + (bad ? " bad" : ""), id: "card-" + id }, el("div", { class: "n" }, String(n)),
       el("div", { class: "l" }, label))));
  const rows = s.queues.map((q) => {
    const pct = q.total ? Math.round(100 * q.used / q.total) : 0;
    const bar = el("div", { class: "bar" }, el("div", {}));
    bar.firstChild.style.width = pct + "%";
    return el("tr", { "data-queue": q.name }, el("td", {}, q.name), el("td", { class: "num" }, String(q.used)),
      el("td", { class: "num" }, String(q.free)), el("td", { class: "num" }, String(q.total)),
      el("td", {}, bar), el("td", { class: "num" }, q.load == null ? "-NA-" : q.load.toFixed(2)));
  });
  document.querySelector("#queues tbody").replaceChildren(...rows);
}

function jobFilters() {
  const params = new URLSearchParams();
  for (const name of ["user", "state", "queue"]) {
    const value = document.getElementById("filter-" + name).value.trim();
    if (value) params.set(name, value);
  }
  return params.toString();
}

function renderJobs(rows) {
  const body = document.querySelector("#jobs tbody");
  body.replaceChildren(...rows.map((r) => el("tr", { "data-job-id": String(r.job_id), "data-state": r.state_family },
    el("td", { class: "num" }, el("a", { href: "/jobs/" + r.job_id }, String(r.job_id))),
    el("td", {}, r.name), el("td", {}, r.owner), el("td", {}, stateBadge(r.state, r.state_family)),
    el("td", {}, fmtTime(r.start_time || r.submit_time)), el("td", {}, r.queue), el("td", { class: "num" }, String(r.slots)),
    el("td", {}, r.tasks || ""))));
  document.getElementById("jobs-count").textContent = `${rows.length} line(s)`;
}

async function submitJob(event) {
  event.preventDefault();
  const command = document.getElementById("submit-command").value.trim();
  const options = document.getElementById("submit-options").value.trim();
  try {
    const result = await api("/api/v1/jobs", { method: "POST", body: {
      command: ["/bin/sh", "-c", command], options: options ? options.split(/\s+/) : [] } });
    showMessage(result.message, true);
  } catch (e) { showMessage(e.message, false); }
}

function summaryPage() {
  showWho();
  document.getElementById("submit-form").addEventListener("submit", submitJob);
  const params = new URLSearchParams(location.search);
  for (const name of ["user", "state", "queue"]) {
    if (params.get(name)) document.getElementById("filter-" + name).value = params.get(name);
  }
  poll(async () => {
    renderSummary(await api("/api/v1/summary"));
    renderJobs(await api("/api/v1/jobs?" + jobFilters()));
  });
}

// ---------------------------------------------------------------- one job

function facts(pairs) {
  const dl = el("dl", { class: "facts" });
  for (const [k, v] of pairs) if (v !== undefined && v !== null && v !== "") dl.append(el("dt", {}, k), el("dd", {}, String(v)));
  return dl;
}

function jobFacts(j) {
  const s = j.spec;
  const requests = Object.entries(s.hard_resources || {}).map(([k, v]) => `${k}=${v}`).join(",");
  const command = [s.command, ...(s.args || [])].join(" ");
  return facts([
    ["job_number", j.job_id], ["job_name", s.name], ["owner", j.owner], ["uid", j.uid], ["group", j.group],
    ["state", j.state], ["submission_time", fmtTime(j.submit_time)], ["cwd", s.cwd || ""],
    ["hard resource_list", requests], ["hard_queue_list", (s.hard_queues || []).join(",")],
    ["parallel environment", s.pe ? `${s.pe.name} ${s.pe.min_slots}-${s.pe.max_slots}` : ""],
    ["job-array tasks", s.tasks ? `${s.tasks.first}-${s.tasks.last}:${s.tasks.step}` : ""],
    ["pending tasks", j.pending_tasks], ["script_file / command", command],
    ["stdout_path_list", j.outputs.stdout_paths.join(",")], ["stderr_path_list", j.outputs.stderr_paths.join(",")],
    ...outputFiles(j.outputs),
    ["error reason", j.error_reason], ["scheduling info", (j.scheduling_info || []).join("\n")],
  ]);
}

// the files a job's tasks write (or wrote): one entry for the tasks still pending, one per task on its host
function outputFiles(outputs) {
  return (outputs ? outputs.files : []).flatMap((f) => {
    const where = f.task_id == null ? " (pending)" : ` (task ${f.task_id} on ${f.host})`;
    return outputs.joined ? [["output file" + where, f.stdout]]
      : [["stdout file" + where, f.stdout], ["stderr file" + where, f.stderr]];
  });
}

function accountingTable(records) {
  if (!records.length) return el("p", { class: "muted" }, "no finished task accounted yet");
  const cols = ["task_number", "hostname", "qname", "start_time", "end_time", "failed", "exit_status", "ru_wallclock", "cpu", "maxvmem"];
  return el("table", { id: "accounting" }, el("thead", {}, el("tr", {}, ...cols.map((c) => el("th", {}, c)))),
    el("tbody", {}, ...records.map((r) => el("tr", {}, ...cols.map((c) =>
      el("td", {}, c.endsWith("_time") ? fmtTime(r[c]) : String(r[c])))))));
}

async function jobAction(id, path, method, body) {
  try {
    const result = await api(`/api/v1/jobs/${id}${path}`, { method, body });
    showMessage(result.lines.join("\n"), true);
  } catch (e) { showMessage(e.message, false); }
}

function jobPage() {
  showWho();
  const id = location.pathname.split("/").pop();
  document.getElementById("job-id").textContent = id;
  document.getElementById("hold").onclick = () => jobAction(id, "/hold", "POST", {});
  document.getElementById("release").onclick = () => jobAction(id, "/release", "POST", {});
  document.getElementById("delete").onclick = () => jobAction(id, "", "DELETE");
  const stop = poll(async () => {
    let job;
    try { job = await api("/api/v1/jobs/" + id); } catch (e) {
      document.getElementById("job-state").replaceChildren(stateBadge(e.status === 404 ? "unknown" : "?", "error"));
      return;
    }
    const family = job.finished ? "finished" : (job.tasks.length ? "running" : (job.state.includes("h") ? "held" : "pending"));
    document.getElementById("job-state").replaceChildren(stateBadge(job.finished ? "finished" : job.state, family));
    document.getElementById("job-state").dataset.state = family;
    document.getElementById("facts").replaceChildren(job.finished
      ? facts([["job_number", job.job_id], ["job_name", job.name], ["owner", job.owner], ["state", "finished"],
        ...(job.outcomes || []).map((o) => [o.tasks ? `tasks ${o.tasks}` : "exit_status",
          o.tasks ? `exit_status ${o.exit_status}` : String(o.exit_status)]),
        ["end_time", job.end_time ? fmtTime(job.end_time) : ""], ...outputFiles(job.outputs)])
      : jobFacts(job));
    const running = job.finished ? [] : job.tasks;
    document.getElementById("tasks").replaceChildren(running.length ? el("table", {},
      el("thead", {}, el("tr", {}, el("th", {}, "task"), el("th", {}, "state"), el("th", {}, "queue"), el("th", {}, "start"))),
      el("tbody", {}, ...running.map((t) => el("tr", {}, el("td", {}, String(t.task_id)), el("td", {}, t.state),
        el("td", {}, t.queue), el("td", {}, fmtTime(t.start_time)))))) : el("p", { class: "muted" }, "no task running"));
    document.getElementById("accounting-box").replaceChildren(accountingTable(job.accounting));
    if (job.finished) {  // nothing left to hold, release or delete
      document.getElementById("job-actions").hidden = true;
      stop();
    }
  });
}

// ---------------------------------------------------------------- hosts

function hostsPage() {
  showWho();
  poll(async () => {
    const hosts = await api("/api/v1/hosts");
    const gb = (b) => (b / 1073741824).toFixed(1) + "G";
    document.querySelector("#hosts tbody").replaceChildren(...hosts.map((h) => el("tr", { "data-host": h.name },
      el("td", {}, h.name), el("td", {}, stateBadge(h.state, h.state === "up" ? "running" : "error")), el("td", {}, h.arch),
      el("td", { class: "num" }, String(h.ncpu)), el("td", { class: "num" }, h.load == null ? "-" : h.load.toFixed(2)),
      el("td", { class: "num" }, `${gb(h.mem_used)} / ${gb(h.mem_total)}`),
      el("td", {}, ...h.jobs.map((j) => el("div", {}, el("a", { href: "/jobs/" + j.job_id }, String(j.job_id) + (j.task ? "." + j.task : "")),
        ` ${j.name} (${j.owner}, ${j.queue}${j.role === "SLAVE" ? ", slave" : ""})`))))));
  });
}

// ---------------------------------------------------------------- my view

async function mePage() {
  const who = await showWho();
  if (!who) return;
  document.getElementById("me").textContent = `${who.user} (uid ${who.uid}, signed in by ${who.via})`;
  poll(async () => {
    renderJobs(await api("/api/v1/jobs?user=me"));
    const totals = await api("/api/v1/accounting/totals?by=owner&owner=" + encodeURIComponent(who.user));
    const t = totals.total;
    document.getElementById("usage").replaceChildren(facts([["finished tasks' wallclock (s)", t.ru_wallclock],
      ["cpu (s)", t.cpu.toFixed(2)], ["mem (GB s)", t.mem.toFixed(3)], ["io (GB)", t.io.toFixed(3)]]));
  });
}

// ---------------------------------------------------------------- sign in

function loginPage() {
  document.getElementById("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const response = await fetch("/login", { method: "POST", credentials: "same-origin", redirect: "manual",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: document.getElementById("token").value }) });
    if (response.type === "opaqueredirect" || response.ok) location.href = "/";
    else showMessage((await response.json().catch(() => ({}))).error || "sign-in failed", false);
  });
}

const PAGES = { summary: summaryPage, job: jobPage, hosts: hostsPage, me: mePage, login: loginPage };
document.addEventListener("DOMContentLoaded", () => {
  for (const link of document.querySelectorAll("header a")) {
    if (link.getAttribute("href") === location.pathname) link.className = "current";
  }
  PAGES[document.body.dataset.page]();
});
