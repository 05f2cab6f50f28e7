// The content-jobs page: submit jobs and watch them live. No framework, no build step.
//
// Each job is one table row (`tr[data-job-id]`), found by id, never added twice.
// Live updates come over EventSource, which reconnects by itself and sends
// Last-Event-ID so the server replays what was missed; the row also ignores an
// event id it has already shown and any change to a job that has already ended.
"use strict";

// The statuses, as the server defines them (filled into <html data-*> by service/api/pages.py).
const STATUSES = document.documentElement.dataset;
const TERMINAL = new Set(STATUSES.terminal.split(" "));
const RETRYABLE = new Set(STATUSES.retryable.split(" "));
const QUEUED = STATUSES.queued;
// Browsers open at most 6 HTTP/1.1 connections per origin: leave room for fetches.
const MAX_STREAMS = 4;
const LIST_LIMIT = 20;
const KEYS = { token: "content-jobs.token", company: "content-jobs.company" };

const $ = (id) => document.getElementById(id);
const streams = new Map(); // jobId -> EventSource
const waiting = []; // jobIds to watch once a stream slot frees up
let generation = 0; // bumped on reload, so answers to older requests are dropped
let jobTypes = new Map(); // name -> GET /api/job-types entry

function token() { return $("token").value.trim(); }
function company() { return $("company").value.trim(); }
function companyPath() { return `api/companies/${encodeURIComponent(company())}`; }

// What a link may carry, in its query or its fragment (`#company=acme`, which never
// reaches a server): `access_token` and `company`. Both are removed from the address
// bar, so a token is not bookmarked or shared by accident. The token is adopted only
// when the user accepts (a link can carry someone else's token, or come from someone
// who wants the user to act under theirs); declining leaves the saved token as it was.
// The company is shown, and saved with the rest.
function takeLinkParams() {
  const url = new URL(window.location.href);
  const fragment = new URLSearchParams(url.hash.slice(1));
  const read = (name) => url.searchParams.get(name) || fragment.get(name) || "";
  const given = read("access_token");
  const linkCompany = read("company");
  for (const name of ["access_token", "company"]) {
    url.searchParams.delete(name);
    fragment.delete(name);
  }
  const hash = fragment.toString() ? `#${fragment}` : "";
  history.replaceState(null, "", url.pathname + url.search + hash);
  if (given && given !== localStorage.getItem(KEYS.token) && window.confirm(adoptQuestion(given))) {
    localStorage.setItem(KEYS.token, given);
  }
  return linkCompany;
}

function adoptQuestion(given) {
  const companies = companiesOf(given);
  const names = companies.includes("*") ? "every company" : companies.join(", ") || "(unknown)";
  return "This link carries an access token. Use it on this page (it replaces any saved one)?\n"
    + `Its companies: ${names}. Accept only if you trust where the link came from.`;
}

function companiesOf(jwt) {
  try {
    const payload = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)).companies || [];
  } catch (_) {
    return [];
  }
}

// Event streams and result links carry no token: the browser sends this same-site
// cookie with them (the API takes a token from it on GET), so the token never sits in
// a URL that could be copied, logged or leaked through a Referer. Set before any stream.
function setTokenCookie() {
  const secure = window.location.protocol === "https:" ? "; Secure" : "";
  const value = token() ? encodeURIComponent(token()) : "";
  const expiry = token() ? "" : "; Max-Age=0";
  document.cookie = `content_jobs_token=${value}; Path=/api/; SameSite=Strict${secure}${expiry}`;
}

// The token's own `companies` claim fills the company list; a single one is chosen.
// A token for every company ("*") has no list to offer: the field says to type an id.
function suggestCompanies() {
  const list = $("company-list");
  list.replaceChildren();
  const claimed = companiesOf(token());
  const companies = claimed.filter((c) => c !== "*");
  for (const name of companies) list.append(new Option(name, name));
  if (!company() && companies.length === 1) $("company").value = companies[0];
  const any = claimed.includes("*");
  $("company").placeholder = any ? "type a company id" : "company id";
  $("company-help").textContent = any
    ? "This token may use every company: type the id of the company whose jobs to show."
    : "";
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${token()}`, ...(options.headers || {}) };
  const response = await fetch(`${companyPath()}${path}`, { ...options, headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function notice(text) { $("notice").textContent = text; }

async function reload() {
  const mine = ++generation;
  waiting.length = 0; // first: stopping a stream would start a waiting one
  for (const jobId of [...streams.keys()]) stopWatching(jobId);
  $("jobs").replaceChildren();
  $("empty").hidden = false;
  if (!token() || !company()) return;
  loadSchedules(mine);
  try {
    const jobs = await api(`/content-jobs?limit=${LIST_LIMIT}`);
    if (mine !== generation) return;
    notice("");
    for (const job of jobs.slice().reverse()) showJob(job);
    for (const job of jobs) if (!TERMINAL.has(job.status)) watch(job.id);
  } catch (error) {
    if (mine === generation) notice(`Could not list jobs: ${error.message}`);
  }
}

// The company's schedules, one line each: name, timing, and the next tick (or paused).
async function loadSchedules(mine) {
  $("schedules").replaceChildren();
  $("no-schedules").hidden = false;
  let schedules;
  try {
    schedules = await api("/schedules");
  } catch (error) {
    return; // the jobs' listing says what is wrong with the token or the company
  }
  if (mine !== generation) return;
  for (const s of schedules) {
    const item = document.createElement("li");
    item.dataset.scheduleId = s.id;
    const when = s.cron ? `cron ${s.cron} (${s.timezone})` : `every ${s.everySeconds} s`;
    const state = s.paused ? "paused" : `next ${new Date(s.nextRunAt).toLocaleString()}`;
    item.textContent = `${s.name}: ${s.job.jobType}, ${when}, ${state}`;
    $("schedules").append(item);
  }
  $("no-schedules").hidden = schedules.length > 0;
}

async function submit(event) {
  event.preventDefault();
  let input;
  try {
    input = JSON.parse($("job-input").value || "{}");
  } catch (error) {
    notice(`Input is not valid JSON: ${error.message}`);
    return;
  }
  $("submit").disabled = true;
  try {
    const jobType = $("job-type").value;
    const body = JSON.stringify({ jobType, input });
    const headers = { "Content-Type": "application/json" };
    const submitted = await api("/content-jobs", { method: "POST", body, headers });
    notice("");
    showJob({ id: submitted.jobId, jobType, status: submitted.status,
              createdAt: submitted.createdAt, progress: { percent: 0, message: null } });
    watch(submitted.jobId);
  } catch (error) {
    notice(`Could not submit: ${error.message}`);
  } finally {
    $("submit").disabled = false;
  }
}

// The row of a job, created on first sight at the top of the table.
function rowOf(jobId, job) {
  const found = $("jobs").querySelector(`tr[data-job-id="${CSS.escape(jobId)}"]`);
  if (found || !job) return found;
  const row = $("job-row").content.firstElementChild.cloneNode(true);
  row.dataset.jobId = jobId;
  row.dataset.lastEventId = "0";
  row.querySelector(".job-id").textContent = jobId.slice(0, 8);
  row.querySelector(".job-id").title = jobId;
  row.querySelector(".job-type").textContent = job.jobType || "";
  row.querySelector(".created").textContent = (job.createdAt || "").replace("T", " ").slice(0, 19);
  row.querySelector(".cancel").addEventListener("click", () => cancel(jobId));
  row.querySelector(".retry").addEventListener("click", () => retry(jobId));
  $("jobs").prepend(row);
  $("empty").hidden = true;
  return row;
}

function showJob(job) {
  applyState(rowOf(job.id, job), job);
}

// Show a job's state; a job that has ended never changes again, so nothing older overwrites it.
function applyState(row, state) {
  if (!row) return;
  const current = row.dataset.status;
  if (TERMINAL.has(current) && state.status !== current) return;
  const progress = state.progress || {};
  const percent = Math.max(0, Math.min(100, Number(progress.percent) || 0));
  row.dataset.status = state.status;
  // events carry no waitingOn: the job's own reads (list, GET) say how many it waits on
  if (Array.isArray(state.waitingOn)) row.dataset.waiting = String(state.waitingOn.length);
  const waitingOn = Number(row.dataset.waiting) || 0;
  row.querySelector(".status").textContent =
    state.status === QUEUED && waitingOn > 0
      ? `waiting on ${waitingOn} job${waitingOn === 1 ? "" : "s"}`
      : state.status;
  if (Array.isArray(state.dependsOn)) showLinks(row, ".depends-on", "after", state.dependsOn);
  row.querySelector("progress").value = percent;
  row.querySelector(".percent").textContent = `${percent}%`;
  row.querySelector(".message").textContent = progress.message || "";
  row.querySelector(".error").textContent = attemptText(state);
  row.querySelector(".cancel").hidden = TERMINAL.has(state.status);
  row.querySelector(".retry").hidden = !RETRYABLE.has(state.status);
  if (state.attempts) row.querySelector(".attempts").textContent = attemptsOf(state);
  showResult(row, state.resultAssetId);
}

// A queued job with an error is waiting to retry: say which attempt failed and when the next starts.
function attemptText(state) {
  const error = state.errorMessage || "";
  if (state.status !== QUEUED || !error) return error;
  const when = state.runAt ? ` (next try ${state.runAt.replace("T", " ").slice(11, 19)})` : "";
  return `retrying: ${error}${when}`;
}

function attemptsOf(state) {
  return state.maxAttempts ? `attempt ${state.attempts} of ${state.maxAttempts}` : "";
}

// Links to other jobs (its dependencies, its children): a click shows that job's row.
function showLinks(row, selector, label, jobIds) {
  const cell = row.querySelector(selector);
  if (cell.dataset.shown === jobIds.join(",")) return;
  cell.dataset.shown = jobIds.join(",");
  if (!jobIds.length) { cell.replaceChildren(); return; }
  const links = jobIds.map((jobId) => {
    const link = document.createElement("a");
    link.href = "#";
    link.className = "job-link";
    link.dataset.jobId = jobId;
    link.textContent = jobId.slice(0, 8);
    link.title = jobId;
    link.addEventListener("click", (event) => { event.preventDefault(); reveal(jobId); });
    return link;
  });
  cell.replaceChildren(`${label}: `, ...links.flatMap((link, i) => (i ? [", ", link] : [link])));
}

async function reveal(jobId) {
  let row = rowOf(jobId);
  if (!row) {
    try {
      const job = await api(`/content-jobs/${encodeURIComponent(jobId)}`);
      showJob(job);
      if (!TERMINAL.has(job.status)) watch(job.id);
      row = rowOf(jobId);
    } catch (error) {
      notice(error.message);
      return;
    }
  }
  row.scrollIntoView({ block: "center" });
}

async function showChildren(row, jobId) {
  const children = await api(`/content-jobs?parentJobId=${encodeURIComponent(jobId)}`);
  showLinks(row, ".children", "children", children.map((child) => child.id));
}

function showResult(row, assetId) {
  const cell = row.querySelector(".result");
  if (!assetId || cell.dataset.assetId === assetId) return;
  const link = document.createElement("a");
  link.href = `${companyPath()}/assets/${encodeURIComponent(assetId)}/content`;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  link.textContent = "result";
  cell.dataset.assetId = assetId;
  cell.replaceChildren(link);
}

function setLive(jobId, text) {
  const row = rowOf(jobId);
  if (row) row.querySelector(".live").textContent = text;
}

function watch(jobId) {
  if (streams.has(jobId) || waiting.includes(jobId)) return;
  if (streams.size >= MAX_STREAMS) {
    waiting.push(jobId);
    setLive(jobId, "(waiting to go live)");
    return;
  }
  // No token in this URL (it would sit in logs and history): EventSource cannot send an
  // Authorization header, so the browser sends the same-site cookie setTokenCookie sets.
  // It starts after the last event the row shows (0 at first: the job's whole history, so
  // the output written before the page looked is there too); the id guard shows each once.
  const after = rowOf(jobId)?.dataset.lastEventId || "0";
  const url = `${companyPath()}/content-jobs/${encodeURIComponent(jobId)}/events?lastEventId=${after}`;
  const source = new EventSource(url);
  streams.set(jobId, source);
  setLive(jobId, "connecting…");
  source.addEventListener("status", (event) => onJobEvent(jobId, event));
  source.addEventListener("progress", (event) => onJobEvent(jobId, event));
  source.addEventListener("output", (event) => onOutput(jobId, event));
  source.addEventListener("open", () => setLive(jobId, "live"));
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) {
      // A non-200 answer (404, 401): EventSource does not retry it.
      stopWatching(jobId);
      setLive(jobId, "(not live: refresh to retry)");
    } else {
      setLive(jobId, "reconnecting…");
    }
  });
}

function onJobEvent(jobId, event) {
  const row = rowOf(jobId);
  if (!row) return;
  const id = Number(event.lastEventId);
  if (id && id <= Number(row.dataset.lastEventId)) return; // already shown
  if (id) row.dataset.lastEventId = String(id);
  const state = JSON.parse(event.data);
  applyState(row, state);
  if (event.type === "status" && state.status === QUEUED && state.errorMessage) {
    noteFailedAttempt(row, state.errorMessage);
  }
  // events carry the state, not attempts or runAt: fetch those when the status changes
  if (event.type === "status") refreshDetails(jobId);
  // The server ends the stream after the terminal event; without close() the
  // EventSource would take that for a dropped connection and reconnect forever.
  if (event.type === "status" && TERMINAL.has(state.status)) {
    stopWatching(jobId);
    setLive(jobId, "");
  }
}

// Streamed output (`output` events, `{offset, chunk}`): appended under the job as it comes.
function onOutput(jobId, event) {
  const row = rowOf(jobId);
  if (!row) return;
  const id = Number(event.lastEventId);
  if (id && id <= Number(row.dataset.lastEventId)) return; // already shown
  if (id) row.dataset.lastEventId = String(id);
  const pre = row.querySelector(".output");
  const follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4; // at the bottom
  pre.append(JSON.parse(event.data).chunk);
  pre.hidden = false;
  if (follow) pre.scrollTop = pre.scrollHeight;
}

function stopWatching(jobId) {
  const source = streams.get(jobId);
  if (source) source.close();
  streams.delete(jobId);
  const next = waiting.shift();
  if (next) watch(next);
}

// Each failed attempt's error, in order, under the job (the stream replays them on reconnect,
// and the event id guard above shows each once).
function noteFailedAttempt(row, message) {
  const item = document.createElement("li");
  item.textContent = message;
  row.querySelector(".attempt-errors").append(item);
}

async function refreshDetails(jobId) {
  try {
    const job = await api(`/content-jobs/${encodeURIComponent(jobId)}`);
    const row = rowOf(jobId);
    if (row && row.dataset.status === job.status) applyState(row, job);
    if (row) await showChildren(row, jobId);
  } catch (_) {
    // the live events go on; details wait for the next change
  }
}

async function retry(jobId) {
  try {
    const row = rowOf(jobId);
    const job = await api(`/content-jobs/${encodeURIComponent(jobId)}/retry`, { method: "POST" });
    row.dataset.status = QUEUED; // a retried job may change again
    applyState(row, job);
    watch(jobId);
  } catch (error) {
    notice(`Could not retry: ${error.message}`);
  }
}

async function cancel(jobId) {
  try {
    const job = await api(`/content-jobs/${encodeURIComponent(jobId)}/cancel`, { method: "POST" });
    applyState(rowOf(jobId), job);
  } catch (error) {
    notice(`Could not cancel: ${error.message}`);
  }
}

function remember() {
  localStorage.setItem(KEYS.token, token());
  localStorage.setItem(KEYS.company, company());
  setTokenCookie();
}

// The type picker and each type's input template come from GET /api/job-types
// (the schema's defaults), so plugin types appear here without a page change.
async function loadJobTypes() {
  if (!token()) return;
  try {
    const response = await fetch("api/job-types", { headers: { Authorization: `Bearer ${token()}` } });
    if (!response.ok) return;
    jobTypes = new Map((await response.json()).map((t) => [t.name, t]));
  } catch (_) {
    return;
  }
  const select = $("job-type");
  const chosen = select.value;
  select.replaceChildren(...[...jobTypes.keys()].map((name) => new Option(name, name)));
  if (jobTypes.has(chosen)) select.value = chosen;
  select.title = jobTypes.get(select.value)?.description || "";
  fillTemplate();
}

function fillTemplate() {
  const type = jobTypes.get($("job-type").value);
  $("job-type").title = type?.description || "";
  const properties = type?.inputSchema?.properties || {};
  const template = {};
  for (const [name, schema] of Object.entries(properties)) {
    if (schema.default !== undefined && schema.default !== null) template[name] = schema.default;
  }
  for (const name of type?.inputSchema?.required || []) {
    if (!(name in template)) template[name] = properties[name]?.type === "string" ? "" : null;
  }
  $("job-input").value = JSON.stringify(template);
}

function init() {
  const linkCompany = takeLinkParams();
  $("token").value = localStorage.getItem(KEYS.token) || "";
  $("company").value = linkCompany || localStorage.getItem(KEYS.company) || "";
  suggestCompanies();
  $("token").addEventListener("change", () => {
    suggestCompanies(); remember(); reload(); loadJobTypes();
  });
  $("job-type").addEventListener("change", fillTemplate);
  $("company").addEventListener("change", () => { remember(); reload(); });
  $("submit-form").addEventListener("submit", submit);
  $("refresh").addEventListener("click", reload);
  $("token").addEventListener("change", showAdmin);
  $("pause").addEventListener("click", () => setPaused(true));
  $("resume").addEventListener("click", () => setPaused(false));
  $("redrive").addEventListener("click", redrive);
  remember();
  reload();
  loadJobTypes();
  showAdmin();
}

// The admin section: for a token with role admin. Pausing needs one for every company
// ("*"); the server says so (403) otherwise. Redrive queues the shown company's jobs again.
function roleOf(jwt) {
  try {
    const payload = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)).role || "editor";
  } catch (_) {
    return "";
  }
}

async function showAdmin() {
  const admin = roleOf(token()) === "admin";
  $("admin").hidden = !admin;
  if (!admin) return;
  const response = await fetch("api/job-types", { headers: { Authorization: `Bearer ${token()}` } });
  const types = response.ok ? await response.json() : [];
  const select = $("admin-type");
  const chosen = select.value;
  select.replaceChildren(...types.map((t) => new Option(t.paused ? `${t.name} (paused)` : t.name, t.name)));
  if (chosen) select.value = chosen;
}

async function setPaused(paused) {
  const name = $("admin-type").value;
  const action = paused ? "pause" : "resume";
  const response = await fetch(`api/job-types/${encodeURIComponent(name)}/${action}`, {
    method: "POST", headers: { Authorization: `Bearer ${token()}` },
  });
  const body = await response.json().catch(() => ({}));
  $("admin-notice").textContent = response.ok
    ? `${name} ${body.paused ? "paused: its jobs stay queued" : "resumed"}`
    : `Could not ${action} ${name}: ${body.error || response.status}`;
  showAdmin();
}

async function redrive() {
  const status = $("redrive-status").value;
  try {
    const body = await api("/content-jobs:retry", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ status }),
    });
    $("admin-notice").textContent = `${body.retried} ${status} jobs queued again`;
    reload();
  } catch (error) {
    $("admin-notice").textContent = `Could not queue them again: ${error.message}`;
  }
}

init();
