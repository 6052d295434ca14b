"""The HTTP entry point's parts: routers per resource, request dependencies, problem details,
limits, documentation and observability; assembled in api.app."""
