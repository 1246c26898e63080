"""``make eval``: Atende's own pt-BR customer-service task set, scored the τ-bench way.

A simulated customer (an LLM playing a persona with a goal) talks to the real reply pipeline
(``ReplyService`` with the tenant's tools, on in-memory ports) whose assistant is the real OpenAI
model; a trial succeeds when the final state of the business data and the conversation is the one
the task expects and every fact the assistant had to communicate was sent. Opt-in: it needs an
OpenAI key and costs money (eval/README.md).
"""
