// The content-jobs page: submit jobs, watch them live, and an overview of the company's jobs.
//
// Built on the TypeScript client (clients/typescript; its browser build is ./client/, made by
// `npm run build:page`): listing, submitting, cancelling, retrying, watching and the overview
// all go through it, so the page resumes a dropped stream, stops at the job's end and reads
// errors exactly as any other app of the client does.
//
// Each job is one table row (`tr[data-job-id]`), found by id, never added twice. A row shows
// each event once (it ignores an event id it has already shown) and never changes after its
// job has ended, but by an explicit retry.
import { ContentJobsClient } from "./client/index.js";

// The statuses, as the server defines them (filled into <html data-*> by service/api/pages.py).
const STATUSES = document.documentElement.dataset;
const ALL_STATUSES = STATUSES.statuses.split(" ");
const TERMINAL = new Set(STATUSES.terminal.split(" "));
const RETRYABLE = new Set(STATUSES.retryable.split(" "));
const QUEUED = STATUSES.queued;
// Browsers open at most 6 HTTP/1.1 connections per origin: leave room for fetches.
const MAX_STREAMS = 4;
const LIST_LIMIT = 20;
const SECOND = 1e3; // in ms
// The overview is asked for every second (the server keeps it about that long).
const OVERVIEW_EVERY = SECOND;
const CHART_SECONDS = 60;
const CHART = { width: 600, height: 120 };
// UUIDv7 ids begin with their creation time: jobs of the same minute share their first 8
// characters. Their last ones are random, so those tell the rows apart.
const ID_TAIL = 8;
const KEYS = { token: "content-jobs.token", company: "content-jobs.company" };
// The API's URLs are relative to the page's, as every link of the page is.
const BASE_URL = new URL(".", window.location.href).href;

const $ = (id) => document.getElementById(id);
const watches = new Map(); // jobId -> AbortController of its watch
const waiting = []; // jobIds to watch once a stream slot frees up
const known = new Map(); // jobId -> the job's fields as last read (runAt, attempts, ...)
let generation = 0; // bumped on reload, so answers to older requests are dropped
let client = null; // the ContentJobsClient of the token and company shown
let jobTypes = new Map(); // name -> GET /api/job-types entry
let samples = []; // the overview's totals: [{at (ms), submitted, finished}]
let overviewTimer = 0;

function token() { return $("token").value.trim(); }
function company() { return $("company").value.trim(); }
function companyPath() { return `api/companies/${encodeURIComponent(company())}`; }
function shortId(jobId) { return `…${jobId.slice(-ID_TAIL)}`; }

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
  const companies = claimsOf(given).companies || [];
  const names = companies.includes("*") ? "every company" : companies.join(", ") || "(unknown)";
  return "This link carries an access token. Use it on this page (it replaces any saved one)?\n"
    + `Its companies: ${names}. Accept only if you trust where the link came from.`;
}

// A token's claims, read but not verified (the server verifies): what to offer, not a right.
function claimsOf(jwt) {
  try {
    const payload = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)) || {};
  } catch (_) {
    return {};
  }
}

// Event streams and result links carry no token: the browser sends this same-site cookie
// with them (the API takes a token from it on GET), so the token never sits in a URL that
// could be copied, logged or leaked through a Referer. The client's watch sets the same
// cookie (same name and Path=/api) before each stream; this one is for result links.
function setTokenCookie() {
  const secure = window.location.protocol === "https:" ? "; Secure" : "";
  const value = token() ? encodeURIComponent(token()) : "";
  const expiry = token() ? "" : "; Max-Age=0";
  document.cookie = `content_jobs_token=${value}; Path=/api; SameSite=Strict${secure}${expiry}`;
  // Pages before the TypeScript client set it at Path=/api/: a browser would send that stale
  // one first (the longer path), so it is removed.
  document.cookie = "content_jobs_token=; Path=/api/; Max-Age=0";
}

// The token's own `companies` claim fills the company list; a single one is chosen.
// A token for every company ("*") has no list to offer: the field says to type an id.
function suggestCompanies() {
  const list = $("company-list");
  list.replaceChildren();
  const claimed = claimsOf(token()).companies || [];
  const companies = claimed.filter((c) => c !== "*");
  for (const name of companies) list.append(new Option(name, name));
  if (!company() && companies.length === 1) $("company").value = companies[0];
  const any = claimed.includes("*");
  $("company").placeholder = any ? "type a company id" : "company id";
  $("company-help").textContent = any
    ? "This token may use every company: type the id of the company whose jobs to show."
    : "";
}

// The routes the client has no call for (schedules, redrive): plain fetch, the same errors.
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
  waiting.length = 0; // first: stopping a watch would start a waiting one
  for (const controller of watches.values()) controller.abort();
  watches.clear();
  known.clear();
  $("jobs").replaceChildren();
  $("empty").hidden = false;
  stopOverview();
  if (!token() || !company()) {
    client = null;
    $("jobs").removeAttribute("aria-busy"); // nothing to list (an earlier listing's is stale)
    return;
  }
  client = new ContentJobsClient({ baseUrl: BASE_URL, companyId: company(), token: token() });
  loadSchedules(mine);
  startOverview(mine);
  $("jobs").setAttribute("aria-busy", "true"); // until the listing is shown (or failed)
  try {
    const { jobs } = await client.list({ limit: LIST_LIMIT });
    if (mine !== generation) return;
    notice("");
    for (const job of jobs.slice().reverse()) showJob(job);
    for (const job of jobs) if (!TERMINAL.has(job.status)) watch(job.id);
  } catch (error) {
    if (mine === generation) notice(`Could not list jobs: ${error.message}`);
  } finally {
    if (mine === generation) $("jobs").setAttribute("aria-busy", "false");
  }
}

// The company's schedules, one line each: name, timing, and the next tick (or paused).
async function loadSchedules(mine) {
  $("schedules").replaceChildren();
  $("no-schedules").hidden = false;
  let schedules;
  try {
    schedules = await api("/schedules");
  } catch (_) {
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
  if (!client) {
    notice("Could not submit: give a token and a company first");
    return;
  }
  $("submit").disabled = true;
  try {
    const jobType = $("job-type").value;
    const submitted = await client.submit({ jobType, input });
    notice("");
    showJob({ id: submitted.jobId, jobType, status: submitted.status,
              createdAt: submitted.createdAt, progress: { percent: 0, message: null } });
    watch(submitted.jobId);
    refreshDetails(submitted.jobId); // runAt, attempts: what the row says about its wait
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
  const id = row.querySelector(".job-id");
  id.textContent = shortId(jobId);
  id.title = jobId;
  row.querySelector(".copy-id").addEventListener("click", () => copyId(row, jobId));
  row.querySelector(".job-type").textContent = job.jobType || "";
  row.querySelector(".created").textContent = job.createdAt ? `created ${clock(job.createdAt)}` : "";
  row.querySelector(".cancel").addEventListener("click", () => cancel(jobId));
  row.querySelector(".retry").addEventListener("click", () => retry(jobId));
  $("jobs").prepend(row);
  $("empty").hidden = true;
  return row;
}

async function copyId(row, jobId) {
  const button = row.querySelector(".copy-id");
  try {
    await navigator.clipboard.writeText(jobId);
    button.textContent = "copied";
  } catch (_) {
    button.textContent = "select it"; // no clipboard (not a secure context): select the id
    window.getSelection().selectAllChildren(row.querySelector(".job-id"));
    row.querySelector(".job-id").textContent = jobId;
  }
  setTimeout(() => { button.textContent = "copy"; }, 2 * SECOND);
}

function showJob(job) {
  applyState(rowOf(job.id, job), job);
}

// Show a job's state; a job that has ended never changes again, so nothing older overwrites it.
function applyState(row, state) {
  if (!row) return;
  const current = row.dataset.status;
  if (TERMINAL.has(current) && state.status !== current) return;
  const job = { ...known.get(row.dataset.jobId), ...state };
  known.set(row.dataset.jobId, job);
  const percent = Math.max(0, Math.min(100, Number(job.progress?.percent) || 0));
  row.dataset.status = job.status;
  if (Array.isArray(job.dependsOn)) showLinks(row, ".depends-on", "after", job.dependsOn);
  row.querySelector("progress").value = percent;
  row.querySelector(".percent").textContent = `${percent}%`;
  row.querySelector(".message").textContent = job.progress?.message || "";
  row.querySelector(".error").textContent = RETRYABLE.has(job.status) ? job.errorMessage || "" : "";
  row.querySelector(".cancel").hidden = TERMINAL.has(job.status);
  row.querySelector(".retry").hidden = !RETRYABLE.has(job.status);
  if (job.attempts) row.querySelector(".attempts").textContent = attemptsOf(job);
  explain(row);
  showResult(row, job.resultAssetId);
}

function attemptsOf(job) {
  return job.maxAttempts ? `attempt ${job.attempts} of ${job.maxAttempts}` : "";
}

// What a queued job waits for, and until when: its dependencies, a retry's backoff, a
// delayed start, or a worker. Its status badge says which in a word, `.why` in a sentence.
// Redrawn every second while queued (the "in 12 s" counts down).
function explain(row) {
  const job = known.get(row.dataset.jobId) || {};
  const [badge, why] = job.status === QUEUED ? queuedReason(job) : [job.status, ""];
  row.querySelector(".status").textContent = badge;
  row.querySelector(".why").textContent = why;
  row.dataset.reason = job.status === QUEUED ? badge.split(" ")[0] : "";
}

function queuedReason(job) {
  const waitingOn = Array.isArray(job.waitingOn) ? job.waitingOn.length : 0;
  if (waitingOn > 0) {
    const jobs = `${waitingOn} job${waitingOn === 1 ? "" : "s"}`;
    return [`waiting on ${jobs}`, `starts once the ${jobs} it depends on ${waitingOn === 1 ? "is" : "are"} done`];
  }
  const later = job.runAt && Date.parse(job.runAt) > Date.now();
  const when = later ? `at ${clock(job.runAt)} (${fromNow(job.runAt)})` : "as soon as a worker is free";
  if (job.attempts > 0 && job.errorMessage) {
    const failed = `retrying after attempt ${job.attempts} of ${job.maxAttempts} failed: ${job.errorMessage}`;
    return ["retrying", `${failed}, next try ${when}`];
  }
  if (later) return ["delayed", `delayed until ${clock(job.runAt)} (${fromNow(job.runAt)})`];
  return [job.status, job.runAt ? `ready since ${clock(job.runAt)}, waiting for a worker` : ""];
}

// A time as the clock on the wall shows it (24 h), with the day when it is not today.
function clock(iso) {
  const time = new Date(iso);
  const hms = time.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  return time.toDateString() === new Date().toDateString() ? hms : `${time.toLocaleDateString()} ${hms}`;
}

function fromNow(iso) {
  const seconds = Math.max(0, Math.round((Date.parse(iso) - Date.now()) / SECOND));
  if (seconds < 90) return `in ${seconds} s`;
  const minutes = Math.round(seconds / 60);
  return minutes < 90 ? `in ${minutes} min` : `in ${Math.floor(minutes / 60)} h ${minutes % 60} min`;
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
    link.textContent = shortId(jobId);
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
      const job = await client.get(jobId);
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
  const { jobs } = await client.list({ parentJobId: jobId });
  showLinks(row, ".children", "children", jobs.map((child) => child.id));
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

// Follows a job with the client's watch, from the last event its row shows (0 at first: the
// job's whole history, so the output written before the page looked is there too). The
// client's EventSource carries no token in its URL: the browser sends the same-site cookie.
function watch(jobId) {
  if (watches.has(jobId) || waiting.includes(jobId) || !client) return;
  if (watches.size >= MAX_STREAMS) {
    waiting.push(jobId);
    setLive(jobId, "(waiting to go live)");
    return;
  }
  const controller = new AbortController();
  watches.set(jobId, controller);
  setLive(jobId, "connecting…");
  const on = (type) => (data, id) => onJobEvent(jobId, type, data, id);
  client.watch(jobId, {
    lastEventId: Number(rowOf(jobId)?.dataset.lastEventId || 0),
    signal: controller.signal,
    onStatus: on("status"),
    onProgress: on("progress"),
    onOutput: (data, id) => onOutput(jobId, data, id),
  }).then((job) => {
    setLive(jobId, "");
    applyState(rowOf(jobId), job); // the finished job: attempts, result
  }, (error) => {
    if (!controller.signal.aborted) setLive(jobId, `(not live: ${error.message}; refresh to retry)`);
  }).finally(() => {
    if (watches.get(jobId) !== controller) return; // a reload already let it go
    watches.delete(jobId);
    const next = waiting.shift();
    if (next) watch(next);
  });
}

// Whether an event is one the row has not shown yet (and, if so, it counts as shown).
function fresh(row, id) {
  if (id && id <= Number(row.dataset.lastEventId)) return false;
  if (id) row.dataset.lastEventId = String(id);
  return true;
}

function onJobEvent(jobId, type, state, id) {
  const row = rowOf(jobId);
  if (!row || !fresh(row, id)) return;
  setLive(jobId, "live");
  applyState(row, state);
  if (type === "status" && state.status === QUEUED && state.errorMessage) {
    noteFailedAttempt(row, state.errorMessage);
  }
  // events carry the state, not attempts, runAt or waitingOn: read those when the status changes
  if (type === "status") refreshDetails(jobId);
}

// Streamed output (`output` events, `{offset, chunk}`): appended under the job as it comes.
function onOutput(jobId, data, id) {
  const row = rowOf(jobId);
  if (!row || !fresh(row, id)) return;
  setLive(jobId, "live");
  const pre = row.querySelector(".output");
  const follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4; // at the bottom
  pre.append(data.chunk);
  pre.hidden = false;
  if (follow) pre.scrollTop = pre.scrollHeight;
}

// Each failed attempt's error, in order, under the job (a replay after a reconnect repeats
// none: the event id guard shows each once).
function noteFailedAttempt(row, message) {
  const item = document.createElement("li");
  item.textContent = message;
  row.querySelector(".attempt-errors").append(item);
}

async function refreshDetails(jobId) {
  try {
    const job = await client.get(jobId);
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
    const job = await client.retry(jobId);
    row.dataset.status = QUEUED; // a retried job may change again
    applyState(row, job);
    watch(jobId);
  } catch (error) {
    notice(`Could not retry: ${error.message}`);
  }
}

async function cancel(jobId) {
  try {
    applyState(rowOf(jobId), await client.cancel(jobId));
  } catch (error) {
    notice(`Could not cancel: ${error.message}`);
  }
}

// ---- the overview: counts by status and type, and submitted/finished per second ----

function startOverview(mine) {
  samples = [];
  drawRates();
  $("overview").hidden = false;
  pollOverview(mine);
}

function stopOverview() {
  clearTimeout(overviewTimer);
  $("overview").hidden = true;
}

// Not while the page is hidden: nobody looks, and the next answer's totals cover the gap.
async function pollOverview(mine) {
  if (mine !== generation || !client) return;
  if (document.hidden) {
    overviewTimer = setTimeout(() => pollOverview(mine), OVERVIEW_EVERY);
    return;
  }
  try {
    const overview = await client.overview();
    if (mine !== generation) return;
    showCounts(overview);
    addSample(overview);
    $("overview-note").textContent = "";
  } catch (error) {
    if (mine === generation) $("overview-note").textContent = `Overview unavailable: ${error.message}`;
  }
  if (mine === generation) overviewTimer = setTimeout(() => pollOverview(mine), OVERVIEW_EVERY);
}

function showCounts(overview) {
  const list = $("status-counts");
  list.replaceChildren(...ALL_STATUSES.map((status) => {
    const item = document.createElement("li");
    item.dataset.status = status;
    const count = document.createElement("b");
    count.textContent = String(overview.byStatus[status] || 0);
    item.append(count, ` ${status}`);
    return item;
  }));
  const head = $("type-counts-head");
  head.replaceChildren(...["type", ...ALL_STATUSES, "all"].map((name) => cell("th", name)));
  const rows = Object.entries(overview.byType).map(([jobType, counts]) => {
    const row = document.createElement("tr");
    row.dataset.jobType = jobType;
    const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
    row.append(cell("th", jobType), ...ALL_STATUSES.map((s) => cell("td", counts[s] || 0, s)), cell("td", total));
    return row;
  });
  $("type-counts").tBodies[0].replaceChildren(...rows);
}

function cell(tag, value, status) {
  const element = document.createElement(tag);
  element.textContent = String(value);
  if (status) element.dataset.status = status;
  if (value === 0) element.className = "zero";
  return element;
}

// Totals a second or so apart give the jobs submitted and finished per second between them
// (never below 0: a prune or a retry lowers a total). Only the last minute is kept.
function addSample(overview) {
  const at = Date.parse(overview.at);
  const last = samples[samples.length - 1];
  if (last && at <= last.at) return; // the same answer again (the server keeps it a second)
  samples.push({ at, submitted: overview.submitted, finished: overview.finished });
  const since = at - (CHART_SECONDS + 1) * SECOND;
  while (samples.length > 2 && samples[1].at < since) samples.shift();
  drawRates();
}

function rates() {
  const out = [];
  for (let i = 1; i < samples.length; i++) {
    const [before, after] = [samples[i - 1], samples[i]];
    const seconds = (after.at - before.at) / SECOND;
    out.push({
      from: before.at, to: after.at,
      submitted: Math.max(0, after.submitted - before.submitted) / seconds,
      finished: Math.max(0, after.finished - before.finished) / seconds,
    });
  }
  return out;
}

// Two step lines over the last minute, scaled to the peak (at least 1 a second).
function drawRates() {
  const spans = rates();
  const end = spans.length ? spans[spans.length - 1].to : Date.now();
  const start = end - CHART_SECONDS * SECOND;
  const peak = Math.max(1, ...spans.flatMap((s) => [s.submitted, s.finished]));
  const x = (t) => (Math.max(0, t - start) / (end - start)) * CHART.width;
  const y = (rate) => CHART.height - 1 - (rate / peak) * (CHART.height - 4);
  for (const series of ["submitted", "finished"]) {
    const points = spans.flatMap((s) => [[x(s.from), y(s[series])], [x(s.to), y(s[series])]]);
    const line = $("rate-chart").querySelector(`.series.${series}`);
    line.setAttribute("points", points.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(" "));
    const latest = spans.length ? spans[spans.length - 1][series] : 0;
    $(`rate-${series}`).textContent = latest.toFixed(latest < 10 ? 1 : 0);
  }
  $("rate-peak").textContent = peak.toFixed(peak < 10 ? 1 : 0);
}

// ---- access, job types, admin ----

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

// The admin section: for a token with role admin. Pausing needs one for every company
// ("*"); the server says so (403) otherwise. Redrive queues the shown company's jobs again.
async function showAdmin() {
  const admin = claimsOf(token()).role === "admin";
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

function init() {
  const linkCompany = takeLinkParams();
  $("token").value = localStorage.getItem(KEYS.token) || "";
  $("company").value = linkCompany || localStorage.getItem(KEYS.company) || "";
  suggestCompanies();
  $("token").addEventListener("change", () => {
    suggestCompanies(); remember(); reload(); loadJobTypes(); showAdmin();
  });
  $("job-type").addEventListener("change", fillTemplate);
  $("company").addEventListener("change", () => { remember(); reload(); });
  $("submit-form").addEventListener("submit", submit);
  $("refresh").addEventListener("click", reload);
  $("pause").addEventListener("click", () => setPaused(true));
  $("resume").addEventListener("click", () => setPaused(false));
  $("redrive").addEventListener("click", redrive);
  // queued rows count down to their start ("in 12 s")
  setInterval(() => {
    for (const row of $("jobs").querySelectorAll("tr[data-reason]:not([data-reason=''])")) explain(row);
  }, SECOND);
  remember();
  reload();
  loadJobTypes();
  showAdmin();
}

init();
