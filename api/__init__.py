"""The HTTP service and the settings every entry point starts from."""
