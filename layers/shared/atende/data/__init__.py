"""Data shipped with the shared layer (read with importlib.resources, never by a path from the cwd).

``llm_prices.json``: USD prices per 1M tokens of the LLM models Atende calls, and the USD→BRL rate,
each with the date it takes effect; read by ``atende.domain.pricing``.
"""
