"""Atende: serverless WhatsApp + LLM customer-service assistant (shared package, built as a Lambda layer)."""
