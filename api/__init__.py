"""The entry points and the layers they share: the composition root (core), the service
layer (services), the HTTP service (http, assembled in app), the command line (cli) and the
demo."""
