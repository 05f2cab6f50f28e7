// watch() against a scripted fetch: what a live server cannot easily be made to do on cue.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ContentJobsClient, ContentJobsError, type OutputChunk } from "../src/index.js";

type Step = { status: number; body?: string; drop?: boolean };

/** A fetch that answers the event stream with the scripted steps and GET with a done job. */
function scripted(steps: Step[]): { fetch: typeof fetch; requests: Array<{ url: string; headers: Record<string, string> }> } {
  const requests: Array<{ url: string; headers: Record<string, string> }> = [];
  const fake = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const headers = { ...(init?.headers as Record<string, string>) };
    requests.push({ url, headers });
    if (!url.endsWith("/events")) {
      return Response.json({ id: "j", status: "done" });
    }
    const step = steps.shift();
    if (step === undefined) throw new Error("no more steps");
    if (step.status !== 200) return new Response(step.body ?? null, { status: step.status });
    const bytes = new TextEncoder().encode(step.body ?? "");
    // split mid-line, as the network does; a drop comes after the bytes were read
    const chunks = [bytes.slice(0, 5), bytes.slice(5)];
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const chunk = chunks.shift();
        if (chunk !== undefined) controller.enqueue(chunk);
        else if (step.drop === true) controller.error(new TypeError("terminated"));
        else controller.close();
      },
    });
    return new Response(stream, { status: 200, headers: { "Content-Type": "text/event-stream" } });
  };
  return { fetch: fake as typeof fetch, requests };
}

const frame = (id: number, event: string, data: object): string =>
  `id: ${id}\r\nevent: ${event}\r\ndata: ${JSON.stringify(data)}\r\n\r\n`;

function client(f: typeof fetch): ContentJobsClient {
  return new ContentJobsClient({
    baseUrl: ["http://a", "http://b"],
    companyId: "acme",
    token: "t",
    fetch: f,
    EventSource: null,
    reconnect: { maxDelayMs: 20 },
  });
}

test("a terminal event that more events follow is not the end; a dropped stream resumes", async () => {
  const { fetch, requests } = scripted([
    {
      status: 200,
      body:
        "retry: 10\r\n\r\n" +
        frame(1, "status", { status: "failed" }) +
        frame(2, "status", { status: "queued" }) +
        frame(3, "output", { jobId: "j", offset: 0, chunk: "hel" }),
      drop: true,
    },
    { status: 200, body: frame(4, "output", { jobId: "j", offset: 3, chunk: "lo" }) + frame(5, "status", { status: "done" }) },
  ]);
  const statuses: string[] = [];
  const output: OutputChunk[] = [];
  const job = await client(fetch).watch("j", {
    onStatus: (data) => statuses.push(data.status),
    onOutput: (data) => output.push(data),
  });
  assert.equal(job.status, "done");
  assert.deepEqual(statuses, ["failed", "queued", "done"]);
  assert.equal(output.map((o) => o.chunk).join(""), "hello");
  const streams = requests.filter((r) => r.url.endsWith("/events"));
  assert.equal(streams.length, 2);
  assert.equal(streams[0]?.headers["Last-Event-ID"], undefined);
  assert.equal(streams[1]?.headers["Last-Event-ID"], "3");
  assert.ok(streams[1]?.url.startsWith("http://b/"), "a failed connection moves to the next base URL");
});

test("a stream the server ends before the end is resumed; 204 ends the watch", async () => {
  const { fetch, requests } = scripted([
    { status: 200, body: frame(1, "status", { status: "running" }) },
    { status: 204 },
  ]);
  const job = await client(fetch).watch("j", { lastEventId: 0 });
  assert.equal(job.status, "done");
  const streams = requests.filter((r) => r.url.endsWith("/events"));
  assert.deepEqual(streams.map((r) => r.headers["Last-Event-ID"]), ["0", "1"]);
});

test("a 404 becomes a ContentJobsError with the server's message", async () => {
  const { fetch } = scripted([
    { status: 404, body: 'event: error\ndata: {"error": "Job not found"}\n\n' },
  ]);
  await assert.rejects(client(fetch).watch("j"), (error: unknown) => {
    assert.ok(error instanceof ContentJobsError);
    assert.equal(error.status, 404);
    assert.equal(error.message, "Job not found");
    return true;
  });
});

test("an aborted watch rejects with the signal's reason", async () => {
  const { fetch } = scripted([{ status: 503 }, { status: 503 }, { status: 503 }]);
  const controller = new AbortController();
  const watching = new ContentJobsClient({
    baseUrl: "http://a",
    companyId: "acme",
    token: "t",
    fetch,
    EventSource: null,
    reconnect: { defaultDelayMs: 60000, maxDelayMs: 60000 },
  }).watch("j", { signal: controller.signal });
  controller.abort(new Error("stop"));
  await assert.rejects(watching, /stop/);
});
