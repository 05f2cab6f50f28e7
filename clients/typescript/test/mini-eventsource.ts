// A small EventSource for Node, as browsers behave, to run watch()'s EventSource path for
// real: it reconnects by itself with Last-Event-ID after `retry:` (capped at 200 ms here)
// when a stream ends or drops, and stops for good (CLOSED, then "error") on any non-200.
import { SseParser } from "../src/sse.js";

type Listener = (event: MessageEvent<string>) => void;

export class MiniEventSource {
  static readonly urls: string[] = [];
  readyState = 0;
  private readonly listeners = new Map<string, Listener[]>();
  private readonly controller = new AbortController();
  private lastEventId = "";
  private retry = 3000;

  constructor(private readonly url: string) {
    MiniEventSource.urls.push(url);
    void this.run();
  }

  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  close(): void {
    this.readyState = 2;
    this.controller.abort();
  }

  private emit(type: string, init?: MessageEventInit<string>): void {
    const event = new MessageEvent<string>(type, init);
    for (const listener of this.listeners.get(type) ?? []) listener(event);
  }

  private async run(): Promise<void> {
    while (this.readyState !== 2) {
      try {
        const headers: Record<string, string> = this.lastEventId === "" ? {} : { "Last-Event-ID": this.lastEventId };
        const response = await fetch(this.url, { headers, signal: this.controller.signal });
        if (response.status !== 200 || response.body === null) {
          await response.body?.cancel();
          this.readyState = 2;
          this.emit("error");
          return;
        }
        this.readyState = 1;
        const parser = new SseParser();
        parser.lastEventId = this.lastEventId;
        const decoder = new TextDecoder();
        const reader = response.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          for (const message of parser.feed(decoder.decode(value, { stream: true }))) {
            this.lastEventId = message.id;
            if (this.readyState === 2) return;
            this.emit(message.event, { data: message.data, lastEventId: message.id });
          }
        }
        if (parser.retry !== null) this.retry = parser.retry;
      } catch {
        // a dropped connection: reconnect below, as a browser does
      }
      if (this.readyState === 2) return;
      this.readyState = 0;
      this.emit("error");
      await new Promise((resolve) => setTimeout(resolve, Math.min(this.retry, 200)));
    }
  }
}
