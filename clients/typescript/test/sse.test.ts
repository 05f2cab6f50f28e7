// The SSE parser against the WHATWG rules, fed in every possible split of its input.
import assert from "node:assert/strict";
import { test } from "node:test";

import { SseParser, type SseMessage } from "../src/sse.js";

/** Feeds `text` whole, and split at every position, and checks all readings agree. */
function parse(text: string): { messages: SseMessage[]; parser: SseParser } {
  const whole = new SseParser();
  const messages = whole.feed(text);
  for (let cut = 1; cut < text.length; cut++) {
    const split = new SseParser();
    const again = [...split.feed(text.slice(0, cut)), ...split.feed(text.slice(cut))];
    assert.deepEqual(again, messages, `split at ${cut}`);
    assert.equal(split.retry, whole.retry);
    assert.equal(split.lastEventId, whole.lastEventId);
  }
  return { messages, parser: whole };
}

test("fields, CRLF lines and the server's retry", () => {
  const { messages, parser } = parse('retry: 2500\r\n\r\nid: 7\r\nevent: status\r\ndata: {"a":1}\r\n\r\n');
  assert.deepEqual(messages, [{ event: "status", data: '{"a":1}', id: "7" }]);
  assert.equal(parser.retry, 2500);
  assert.equal(parser.lastEventId, "7");
});

test("multi-line data is joined by LF; LF, CR and CRLF all end lines", () => {
  const { messages } = parse("data: one\ndata: two\r\ndata:three\rdata\n\n");
  assert.deepEqual(messages, [{ event: "message", data: "one\ntwo\nthree\n", id: "" }]);
});

test("comments are ignored, an event without data is not dispatched", () => {
  const { messages } = parse(": ping\n\nevent: progress\n\n: ping\nevent: x\ndata: y\n\n");
  assert.deepEqual(messages, [{ event: "x", data: "y", id: "" }]);
});

test("the id persists across events; an id with NUL is ignored; one space is stripped", () => {
  const { messages, parser } = parse("id: 1\ndata:  a\n\ndata: b\n\nid: 2\0\ndata: c\n\n");
  assert.deepEqual(
    messages.map((m) => [m.id, m.data]),
    [["1", " a"], ["1", "b"], ["1", "c"]],
  );
  assert.equal(parser.lastEventId, "1");
});

test("a retry that is not all digits is ignored; unknown fields too", () => {
  const { parser, messages } = parse("retry: 10s\nfoo: bar\nretry: 300\nretry: -1\ndata\n\n");
  assert.equal(parser.retry, 300);
  assert.deepEqual(messages, [{ event: "message", data: "", id: "" }]);
});

test("a leading BOM is dropped; an unfinished event at the end is not dispatched", () => {
  const { messages } = parse("\ufeffdata: a\n\ndata: unfinished\n");
  assert.deepEqual(messages, [{ event: "message", data: "a", id: "" }]);
});
