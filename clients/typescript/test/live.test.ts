// The client against real replicas of the service, started by
// tests/integration/test_typescript_client.py, which passes them in the environment:
//   CONTENT_JOBS_URL            a replica that serves and runs jobs (role all)
//   CONTENT_JOBS_JWT_SECRET     the HS256 secret, to issue tokens (short-lived ones too)
//   CONTENT_JOBS_FAILOVER_URLS  two more replicas (role api), comma-separated
//   CONTENT_JOBS_FAILOVER_PIDS  their process ids, in the same order (one test kills one)
// Without CONTENT_JOBS_URL these tests are skipped (`npm test` alone runs the unit tests).
import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";
import { describe, test } from "node:test";

import { ContentJobsClient, ContentJobsError, type JobEvent } from "../src/index.js";
import { MiniEventSource } from "./mini-eventsource.js";

const url = process.env["CONTENT_JOBS_URL"];
const secret = process.env["CONTENT_JOBS_JWT_SECRET"] ?? "";
const failoverUrls = (process.env["CONTENT_JOBS_FAILOVER_URLS"] ?? "").split(",").filter(Boolean);
const failoverPids = (process.env["CONTENT_JOBS_FAILOVER_PIDS"] ?? "").split(",").filter(Boolean).map(Number);
const skip = url === undefined ? "CONTENT_JOBS_URL is not set (tests/integration/test_typescript_client.py sets it)" : false;

/** An HS256 token as `content-jobs token` issues it. */
function makeToken(ttlSeconds = 3600): string {
  const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const head = encode({ alg: "HS256", typ: "JWT" });
  const body = encode({ sub: "ts-client-tests", companies: ["acme"], iat: now, exp: now + ttlSeconds });
  const signature = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${signature}`;
}

function client(baseUrl: string | string[] = url ?? "", extra: Partial<ConstructorParameters<typeof ContentJobsClient>[0]> = {}): ContentJobsClient {
  return new ContentJobsClient({
    baseUrl,
    companyId: "acme",
    token: makeToken(),
    EventSource: null,
    reconnect: { maxDelayMs: 300 },
    ...extra,
  });
}

interface Seen {
  id: number;
  type: string;
  data: JobEvent;
}

/** Every event of the job, replayed from the service's table (Last-Event-ID: 0). */
async function history(jobId: string): Promise<string[]> {
  const events: string[] = [];
  await client().watch(jobId, {
    lastEventId: 0,
    onStatus: (_, id) => events.push(`${id} status`),
    onProgress: (_, id) => events.push(`${id} progress`),
    onOutput: (_, id) => events.push(`${id} output`),
  });
  return events;
}

/** What a watcher saw is its first event, then exactly the table's events after it (ids and
 * types: a fresh snapshot in place of a resumed stream would show as a status event). */
async function assertNoGap(jobId: string, seen: Seen[]): Promise<void> {
  const first = seen[0];
  assert.ok(first !== undefined);
  const full = await history(jobId);
  assert.deepEqual(
    seen.slice(1).map((e) => `${e.id} ${e.type}`),
    full.filter((e) => Number(e.split(" ")[0]) > first.id),
  );
}

/** A fetch that records the event-stream requests: where they went, from which id. */
function countingFetch(streams: Array<{ url: string; lastEventId: string | undefined }>): typeof fetch {
  return (input, init) => {
    if (String(input).endsWith("/events")) {
      streams.push({ url: String(input), lastEventId: (init?.headers as Record<string, string>)["Last-Event-ID"] });
    }
    return fetch(input, init);
  };
}

function recorder(seen: Seen[]): { onStatus: (d: JobEvent, id: number) => void; onProgress: (d: JobEvent, id: number) => void } {
  return {
    onStatus: (data, id) => seen.push({ id, type: "status", data }),
    onProgress: (data, id) => seen.push({ id, type: "progress", data }),
  };
}

describe("against a live service", { skip }, () => {
  test("submit, get, list, cancel and retry round trip", async () => {
    const jobs = client();
    const submitted = await jobs.submit({ jobType: "sleep", input: { seconds: 60, steps: 600 }, sourceTaskId: "ts-round-trip" });
    assert.equal(submitted.status, "queued");
    const job = await jobs.get(submitted.jobId);
    assert.equal(job.id, submitted.jobId);
    assert.equal(job.jobType, "sleep");
    const page = await jobs.list({ sourceTaskId: "ts-round-trip", limit: 10 });
    assert.deepEqual(page.jobs.map((j) => j.id), [submitted.jobId]);
    assert.equal(page.nextCursor, null);
    const cancelled = await jobs.cancel(submitted.jobId);
    assert.equal(cancelled.status, "cancelled");
    const retried = await jobs.retry(submitted.jobId);
    assert.equal(retried.status, "queued");
    assert.equal((await jobs.cancel(submitted.jobId)).status, "cancelled");
    await assert.rejects(jobs.cancel(submitted.jobId), (error: unknown) => error instanceof ContentJobsError && error.status === 409);
  });

  test("overview counts the company's jobs by status and type", async () => {
    const jobs = client();
    const before = await jobs.overview();
    await jobs.submit({ jobType: "test" });
    let after = await jobs.overview();
    for (let i = 0; i < 40 && after.submitted === before.submitted; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100)); // an answer is kept ~1 s
      after = await jobs.overview();
    }
    assert.equal(after.submitted, before.submitted + 1);
    assert.equal(Object.values(after.byStatus).reduce((a, b) => a + b, 0), after.submitted);
    const byType = Object.values(after.byType).flatMap((counts) => Object.values(counts));
    assert.equal(byType.reduce((a, b) => a + b, 0), after.submitted);
    assert.ok(Object.values(after.byType["test"] ?? {}).reduce((a, b) => a + b, 0) >= 1);
    assert.ok(Date.parse(after.at) > Date.parse(before.at));
  });

  test("list pages with a cursor", async () => {
    const jobs = client();
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await jobs.submit({ jobType: "test", sourceTaskId: "ts-pages" })).jobId);
    const first = await jobs.list({ sourceTaskId: "ts-pages", limit: 2 });
    assert.equal(first.jobs.length, 2);
    assert.ok(first.nextCursor !== null);
    const second = await jobs.list({ sourceTaskId: "ts-pages", limit: 2, cursor: first.nextCursor });
    assert.deepEqual([...first.jobs, ...second.jobs].map((j) => j.id).sort(), ids.sort());
    assert.equal(second.nextCursor, null);
  });

  test("watch follows a sleep job to done, progress in order", async () => {
    const jobs = client();
    const { jobId } = await jobs.submit({ jobType: "sleep", input: { seconds: 0.6, steps: 4 } });
    const seen: Seen[] = [];
    const job = await jobs.watch(jobId, recorder(seen));
    assert.equal(job.status, "done");
    assert.deepEqual(job.progress.percent, 100);
    assert.equal(seen[0]?.type, "status");
    assert.equal(seen.at(-1)?.data.status, "done");
    const ids = seen.map((e) => e.id);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
    assert.equal(new Set(ids).size, ids.length);
    const percents = seen.filter((e) => e.type === "progress").map((e) => e.data.progress.percent);
    assert.ok(percents.length >= 1, "progress events came");
    assert.deepEqual(percents, [...percents].sort((a, b) => a - b));
    await assertNoGap(jobId, seen);
  });

  test("a replica killed mid-stream: the watch resumes on the other, nothing lost or repeated", { skip: failoverUrls.length < 2 ? "no failover replicas given" : false }, async () => {
    const [pidA] = failoverPids;
    assert.ok(pidA !== undefined);
    const streams: Array<{ url: string; lastEventId: string | undefined }> = [];
    const jobs = client(failoverUrls, { fetch: countingFetch(streams) }); // starts on the first
    const { jobId } = await jobs.submit({ jobType: "sleep", input: { seconds: 3, steps: 15 } });
    const seen: Seen[] = [];
    let killed = false;
    let lastBeforeKill = 0;
    const job = await jobs.watch(jobId, {
      onStatus: (data, id) => seen.push({ id, type: "status", data }),
      onProgress: (data, id) => {
        seen.push({ id, type: "progress", data });
        if (!killed && seen.filter((e) => e.type === "progress").length === 2) {
          killed = true;
          lastBeforeKill = id;
          process.kill(pidA, "SIGKILL"); // the replica serving this stream
        }
      },
    });
    assert.ok(killed, "the serving replica was killed mid-stream");
    assert.ok(streams.length >= 2 && streams.every((s) => s.url.startsWith(failoverUrls[0] ?? "") || s.url.startsWith(failoverUrls[1] ?? "")));
    assert.ok(streams[0]?.url.startsWith(failoverUrls[0] ?? ""));
    assert.ok(streams[1]?.url.startsWith(failoverUrls[1] ?? ""), "it resumed on the other replica");
    assert.equal(streams[1]?.lastEventId, String(lastBeforeKill));
    assert.equal(job.status, "done");
    const ids = seen.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, "no event repeated");
    await assertNoGap(jobId, seen);
  });

  test("a token that expires mid-job: getToken gives a fresh one, no gap in event ids", async () => {
    let issued = 0;
    const getToken = (): string => {
      issued += 1;
      return makeToken(3);
    };
    const streams: Array<{ url: string; lastEventId: string | undefined }> = [];
    const jobs = new ContentJobsClient({ baseUrl: url ?? "", companyId: "acme", getToken, EventSource: null, fetch: countingFetch(streams) });
    const { jobId } = await jobs.submit({ jobType: "sleep", input: { seconds: 5, steps: 25 } });
    const seen: Seen[] = [];
    const job = await jobs.watch(jobId, recorder(seen));
    assert.equal(job.status, "done");
    assert.ok(issued >= 2, `the token was renewed (${issued} issued)`);
    assert.ok(streams.length >= 2, "the stream ended at the token's expiry and was resumed");
    assert.ok(streams.slice(1).every((s) => s.lastEventId !== undefined), "each resumed from its last id");
    await assertNoGap(jobId, seen);
  });

  test("watch over EventSource, as in a browser: token in the query, to done, no gap", async () => {
    const jobs = client(url ?? "", { EventSource: MiniEventSource, tokenInQuery: true });
    const { jobId } = await jobs.submit({ jobType: "sleep", input: { seconds: 0.6, steps: 4 } });
    const seen: Seen[] = [];
    const job = await jobs.watch(jobId, recorder(seen));
    assert.equal(job.status, "done");
    assert.equal(seen.at(-1)?.data.status, "done");
    await assertNoGap(jobId, seen);
    const opened = MiniEventSource.urls.filter((u) => u.includes(jobId));
    assert.equal(opened.length, 1);
    assert.match(opened[0] ?? "", /\?access_token=ey/);
    await assert.rejects(
      jobs.watch(randomUUID()),
      (error: unknown) => error instanceof ContentJobsError && error.status === 404,
    );
  });

  test("an unknown job is a ContentJobsError 404", async () => {
    const jobs = client();
    const notFound = (error: unknown): boolean => {
      assert.ok(error instanceof ContentJobsError);
      assert.equal(error.status, 404);
      assert.equal(error.message, "Job not found");
      return true;
    };
    await assert.rejects(jobs.get(randomUUID()), notFound);
    await assert.rejects(jobs.watch(randomUUID()), notFound);
  });

  test("a bad submit is a ContentJobsError 400 naming the problem", async () => {
    await assert.rejects(
      client().submit({ jobType: "nope" } as never),
      (error: unknown) => error instanceof ContentJobsError && error.status === 400 && /jobType/.test(error.message),
    );
  });
});
