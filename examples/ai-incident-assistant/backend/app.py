"""AI incident assistant API: answers questions about incidents (sample app for the gitops pipeline)."""
from fastapi import FastAPI

app = FastAPI(title="ai-incident-assistant")


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.post("/api/ask")
def ask(question: dict) -> dict:
    text = str(question.get("text", ""))
    return {"answer": f"Looking into: {text[:200]}", "sources": []}
