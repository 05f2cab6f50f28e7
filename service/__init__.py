"""content-jobs: long-running content jobs over HTTP, with live progress over SSE."""
