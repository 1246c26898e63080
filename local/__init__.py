"""Dev-only tooling: template-driven provisioning, the local stack, in-process invoke, demo.

Never shipped to Lambda (not under layers/ or functions/).
"""
