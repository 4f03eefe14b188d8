"""Baseline 1: FastAPI's JSON hello-world, the ceiling every figure is divided by."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def root() -> dict[str, str]:
    return {"message": "Hello World"}
