"""The HTTP layer: a Starlette app serving the OpenAI endpoints in front of the fake model."""
