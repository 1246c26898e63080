"""Pure domain: no boto3, no httpx, no os.environ."""
