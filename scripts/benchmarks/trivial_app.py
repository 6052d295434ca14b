"""The HTTP baseline: a FastAPI app with one JSON endpoint and nothing behind it."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def answer() -> dict[str, bool]:
    return {"ok": True}
