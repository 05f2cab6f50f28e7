export { ContentJobsClient, ContentJobsError, } from "./client.js";
export { SseParser } from "./sse.js";
