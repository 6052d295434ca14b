"""The projection engine: what each event means for the views (handlers), the rows a batch
changes (rows), and the projector, poller and rebuild that drive them."""
