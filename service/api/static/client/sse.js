/**
 * A server-sent events parser, as the WHATWG HTML standard defines the format
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream),
 * for runtimes without `EventSource` (Node) or where headers must be set (`Last-Event-ID`,
 * `Authorization`), which `EventSource` cannot do.
 *
 * It takes decoded text in chunks of any size, so a line, or a CRLF pair, may be split
 * between two chunks; lines end with CRLF, LF or CR; `:` lines are comments; `data:` lines
 * accumulate (joined by LF); `id:` persists across events (an id with NUL is ignored);
 * `retry:` takes only ASCII digits; an event with no data is not dispatched; an unfinished
 * event at the end of the stream is dropped.
 */
export class SseParser {
    /** The last `id:` seen: what a reconnect sends as `Last-Event-ID`. */
    lastEventId = "";
    /** The last valid `retry:` in milliseconds, or null when the server sent none. */
    retry = null;
    buffer = "";
    afterCr = false;
    started = false;
    eventType = "";
    data = [];
    /** Parses the next piece of the stream; returns the events it completed, in order. */
    feed(text) {
        if (!this.started && text.length > 0) {
            this.started = true;
            if (text.charCodeAt(0) === 0xfeff)
                text = text.slice(1); // one leading BOM is ignored
        }
        if (this.afterCr && text.startsWith("\n"))
            text = text.slice(1); // the LF of a split CRLF
        this.afterCr = false;
        const out = [];
        let start = 0;
        for (let i = 0; i < text.length; i++) {
            const c = text.charCodeAt(i);
            if (c !== 0x0a && c !== 0x0d)
                continue;
            this.line(this.buffer + text.slice(start, i), out);
            this.buffer = "";
            if (c === 0x0d) {
                if (i + 1 < text.length) {
                    if (text.charCodeAt(i + 1) === 0x0a)
                        i++;
                }
                else {
                    this.afterCr = true;
                }
            }
            start = i + 1;
        }
        this.buffer += text.slice(start);
        return out;
    }
    line(line, out) {
        if (line === "") {
            this.dispatch(out);
            return;
        }
        if (line.startsWith(":"))
            return; // a comment (the server's `: ping`)
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" "))
            value = value.slice(1);
        switch (field) {
            case "event":
                this.eventType = value;
                break;
            case "data":
                this.data.push(value);
                break;
            case "id":
                if (!value.includes("\0"))
                    this.lastEventId = value;
                break;
            case "retry":
                if (/^[0-9]+$/.test(value))
                    this.retry = Number(value);
                break;
            default:
                break; // unknown fields are ignored
        }
    }
    dispatch(out) {
        const type = this.eventType;
        const data = this.data;
        this.eventType = "";
        this.data = [];
        if (data.length === 0)
            return;
        out.push({ event: type === "" ? "message" : type, data: data.join("\n"), id: this.lastEventId });
    }
}
