export {
  ContentJobsClient,
  ContentJobsError,
  type ClientOptions,
  type EventSourceFactory,
  type EventSourceLike,
  type Job,
  type JobEvent,
  type JobPage,
  type JobStatus,
  type JobSummary,
  type ListQuery,
  type OutputChunk,
  type Overview,
  type ReconnectOptions,
  type Submitted,
  type SubmitRequest,
  type WatchOptions,
} from "./client.js";
export { SseParser, type SseMessage } from "./sse.js";
export type { components, operations, paths } from "./openapi.js";
