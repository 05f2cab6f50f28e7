// The content-jobs page: submit jobs and watch them live. No framework, no build step.
//
// Each job is one table row (`tr[data-job-id]`), found by id, never added twice.
// Live updates come over EventSource, which reconnects by itself and sends
// Last-Event-ID so the server replays what was missed; the row also ignores an
// event id it has already shown and any change to a job that has already ended.
"use strict";

const TERMINAL = new Set(["done", "failed", "cancelled"]);
// Browsers open at most 6 HTTP/1.1 connections per origin: leave room for fetches.
const MAX_STREAMS = 4;
const LIST_LIMIT = 20;
const KEYS = { token: "content-jobs.token", company: "content-jobs.company" };

const $ = (id) => document.getElementById(id);
const streams = new Map(); // jobId -> EventSource
const waiting = []; // jobIds to watch once a stream slot frees up
let generation = 0; // bumped on reload, so answers to older requests are dropped

function token() { return $("token").value.trim(); }
function company() { return $("company").value.trim(); }
function companyPath() { return `api/companies/${encodeURIComponent(company())}`; }

// A token given in the page's URL is kept, then removed from the address bar
// so it is not bookmarked or shared by accident.
function takeTokenFromUrl() {
  const url = new URL(window.location.href);
  const given = url.searchParams.get("access_token");
  if (!given) return;
  localStorage.setItem(KEYS.token, given);
  url.searchParams.delete("access_token");
  history.replaceState(null, "", url.pathname + url.search + url.hash);
}

// The token's own `companies` claim fills the company list; a single one is chosen.
function suggestCompanies() {
  const list = $("company-list");
  list.replaceChildren();
  let companies = [];
  try {
    const payload = token().split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    companies = JSON.parse(atob(payload)).companies.filter((c) => c !== "*");
  } catch (_) {
    return;
  }
  for (const name of companies) list.append(new Option(name, name));
  if (!company() && companies.length === 1) $("company").value = companies[0];
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
  row.querySelector(".status").textContent = state.status;
  row.querySelector("progress").value = percent;
  row.querySelector(".percent").textContent = `${percent}%`;
  row.querySelector(".message").textContent = progress.message || "";
  row.querySelector(".error").textContent = state.errorMessage || "";
  row.querySelector(".cancel").hidden = TERMINAL.has(state.status);
  showResult(row, state.resultAssetId);
}

function showResult(row, assetId) {
  const cell = row.querySelector(".result");
  if (!assetId || cell.dataset.assetId === assetId) return;
  const link = document.createElement("a");
  const query = `access_token=${encodeURIComponent(token())}`;
  link.href = `${companyPath()}/assets/${encodeURIComponent(assetId)}/content?${query}`;
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
  const query = `access_token=${encodeURIComponent(token())}`;
  const url = `${companyPath()}/content-jobs/${encodeURIComponent(jobId)}/events?${query}`;
  const source = new EventSource(url);
  streams.set(jobId, source);
  setLive(jobId, "connecting…");
  source.addEventListener("status", (event) => onJobEvent(jobId, event));
  source.addEventListener("progress", (event) => onJobEvent(jobId, event));
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
  // The server ends the stream after the terminal event; without close() the
  // EventSource would take that for a dropped connection and reconnect forever.
  if (event.type === "status" && TERMINAL.has(state.status)) {
    stopWatching(jobId);
    setLive(jobId, "");
  }
}

function stopWatching(jobId) {
  const source = streams.get(jobId);
  if (source) source.close();
  streams.delete(jobId);
  const next = waiting.shift();
  if (next) watch(next);
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
}

function init() {
  takeTokenFromUrl();
  $("token").value = localStorage.getItem(KEYS.token) || "";
  $("company").value = new URL(window.location.href).searchParams.get("company")
    || localStorage.getItem(KEYS.company) || "";
  suggestCompanies();
  $("token").addEventListener("change", () => { suggestCompanies(); remember(); reload(); });
  $("company").addEventListener("change", () => { remember(); reload(); });
  $("submit-form").addEventListener("submit", submit);
  $("refresh").addEventListener("click", reload);
  remember();
  reload();
}

init();
