"""The HTTP face: the routes, the event stream, auth, health, OpenAPI and the page.

It maps domain errors to HTTP in one place (`errors.py`) and imports nothing of
`service.worker`."""
